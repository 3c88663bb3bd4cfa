"""Sandbox telephony's gateway half: simulated callees and recordings (docs/sandbox.md)."""

from switchboard.voice_gateway.sandbox.callee import SandboxCallee
from switchboard.voice_gateway.sandbox.recorder import SandboxCallRecorder

__all__ = ["SandboxCallRecorder", "SandboxCallee"]
