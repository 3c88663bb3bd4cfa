"""A raw websocket client's bytes: a handshake and masked frames, to send what well-behaved
clients never do (frames split or pipelined, and a client that never reads)."""

from __future__ import annotations

import base64
import os
import struct


def frame(payload: bytes, first: int = 0x81) -> bytes:
    """A masked client frame (``first``: FIN and opcode, text by default)."""
    mask = os.urandom(4)
    length = len(payload)
    head = bytes([first]) + (
        bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + struct.pack("!H", length)
    )
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def handshake(host: str, path: str) -> bytes:
    """The upgrade request for ``path``."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
