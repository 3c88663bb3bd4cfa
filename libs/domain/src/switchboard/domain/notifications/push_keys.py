"""A browser's push subscription keys, as ``PushSubscription.toJSON()`` gives them (RFC 8291).

``p256dh`` is the browser's P-256 public key, an uncompressed point (65 bytes, the first 0x04),
and ``auth`` its 16-byte authentication secret, each base64url (padding optional). Anything
else is refused when the subscription is made: the push job could only fail for good later,
in ``pywebpush``, with nothing to tell the person who subscribed.
"""

from __future__ import annotations

import base64
import binascii
import re

P256DH_BYTES = 65
AUTH_BYTES = 16
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def _decoded(value: str) -> bytes | None:
    if not _BASE64URL.fullmatch(value):
        return None
    text = value.rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # one character past a multiple of four
        return None


def p256dh_problem(value: str) -> str | None:
    """Why ``value`` is not a browser's push public key, or None if it is one."""
    raw = _decoded(value)
    if raw is None:
        return "is not base64url"
    if len(raw) != P256DH_BYTES or raw[0] != 0x04:
        return f"is not an uncompressed P-256 public key ({P256DH_BYTES} bytes, the first 0x04)"
    # Imported here: the API's start does not pay for the curve library until a subscription.
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        return "is not a point on the P-256 curve"
    return None


def auth_problem(value: str) -> str | None:
    """Why ``value`` is not a browser's push authentication secret, or None if it is one."""
    raw = _decoded(value)
    if raw is None:
        return "is not base64url"
    if len(raw) != AUTH_BYTES:
        return f"is {len(raw)} bytes, not the {AUTH_BYTES} of a push authentication secret"
    return None
