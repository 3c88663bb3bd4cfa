"""Ports to the outside world (Twilio, OpenAI, Web Push, webhooks, storage) and their adapters.

Each module holds one port: an abstract base class, the real adapter that speaks to the
service through its official client library, and an in-memory fake for tests.
"""
