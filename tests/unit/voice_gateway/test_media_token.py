import base64
import dataclasses
import hashlib
import hmac
import json

import pytest

from switchboard.voice_gateway.domain.media_token import (
    InvalidMediaToken,
    StreamClaims,
    sign_media_token,
    verify_media_token,
)

CLAIMS = StreamClaims(
    "CA1", 7, "outbound", "+1555", "+1666", expires_at=1000.0, run_id=3, item_id=9
)


def test_a_signed_token_verifies_and_carries_its_claims() -> None:
    token = sign_media_token(CLAIMS, "secret")
    assert verify_media_token(token, "secret", call_sid="CA1", now=999.0) == CLAIMS


@pytest.mark.parametrize(
    ("secret", "call_sid", "now", "reason"),
    [
        ("other", "CA1", 999.0, "bad signature"),
        ("secret", "CA2", 999.0, "another call"),
        ("secret", "CA1", 1001.0, "expired"),
    ],
)
def test_a_forged_foreign_or_expired_token_is_refused(
    secret: str, call_sid: str, now: float, reason: str
) -> None:
    token = sign_media_token(CLAIMS, "secret")
    with pytest.raises(InvalidMediaToken, match=reason):
        verify_media_token(token, secret, call_sid=call_sid, now=now)


def test_a_tampered_token_is_refused() -> None:
    body, mac = sign_media_token(CLAIMS, "secret").split(".")
    with pytest.raises(InvalidMediaToken):
        verify_media_token(body[:-2] + "AA." + mac, "secret", call_sid="CA1", now=0)
    with pytest.raises(InvalidMediaToken):
        verify_media_token("", "secret", call_sid="CA1", now=0)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(claims: object, secret: str) -> str:
    """A token with a body of our choosing, signed as the gateway signs them."""
    body = _b64(json.dumps(claims).encode())
    return f"{body}.{_b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())}"


def test_a_claim_a_newer_gateway_added_is_ignored_and_a_missing_one_refused() -> None:
    newer = {**dataclasses.asdict(CLAIMS), "region": "eu"}
    token = _signed(newer, "secret")
    assert verify_media_token(token, "secret", call_sid="CA1", now=910.0) == CLAIMS
    missing = {k: v for k, v in dataclasses.asdict(CLAIMS).items() if k != "business_id"}
    with pytest.raises(InvalidMediaToken, match="unreadable claims"):
        verify_media_token(_signed(missing, "secret"), "secret", call_sid="CA1", now=910.0)
    with pytest.raises(InvalidMediaToken, match="unreadable claims"):
        verify_media_token(_signed([1, 2], "secret"), "secret", call_sid="CA1", now=910.0)
