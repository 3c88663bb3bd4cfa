"""Keyed hashes of what must be recognised later without being kept (a number, a call sid).

HMAC-SHA256 (hex), keyed with ``SESSION_SECRET`` through a purpose label: a leaked table does
not give its inputs back by hashing every candidate (every number there is), and two uses of
the secret never share a key. Changing the secret only stops old hashes from being recognised.
"""

from __future__ import annotations

import hashlib
import hmac

from switchboard.common.settings import get_settings


def keyed_hash(purpose: bytes, message: bytes) -> str:
    """HMAC-SHA256 (hex) of ``message`` under the deployment's key for ``purpose``."""
    key = hmac.new(get_settings().session_secret.encode(), purpose, hashlib.sha256)
    return hmac.new(key.digest(), message, hashlib.sha256).hexdigest()
