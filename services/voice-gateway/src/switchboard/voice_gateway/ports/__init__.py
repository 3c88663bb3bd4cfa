"""The gateway's ports: abstract bases its core depends on, each with an in-memory fake.

Real adapters live in ``switchboard.voice_gateway.adapters``.
"""
