"""Short-lived HMAC tokens that let one call's media stream in, once.

The webhook puts a token in the TwiML ``<Parameter>``s; the websocket accepts audio only
when the ``start`` message carries a valid, unexpired token for that very call, and only the
first socket that shows it (:class:`UsedMediaTokens`): Twilio opens one stream per
``<Stream>``, so a second socket with the same token is a replay.

A token lives ``GATEWAY__MEDIA_TOKEN_TTL_S`` (60 s): Twilio opens the stream within seconds
of the webhook, so a later one is a replay, refused on every gateway process (the register of
used tokens is per process). The expiry is the claim every gateway has always checked, so a
shorter TTL needs no new claim that an older gateway in a rolling update could not read.

Claims this code does not know are ignored (they are signed: only a newer gateway of ours
wrote them), so the next claim added opens streams on this gateway too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields


class InvalidMediaToken(ValueError):
    """The token is forged, expired, or for another call."""


@dataclass(frozen=True, slots=True)
class StreamClaims:
    """What the webhook vouches for about a call."""

    call_sid: str
    business_id: int
    direction: str
    from_number: str
    to_number: str
    expires_at: float
    run_id: int | None = None
    item_id: int | None = None


_CLAIMS = frozenset(field.name for field in fields(StreamClaims))


def _claims(data: object) -> StreamClaims:
    """The claims of a token's body, those this code knows of (TypeError if one is missing)."""
    if not isinstance(data, dict):
        raise TypeError("claims are not an object")
    return StreamClaims(**{name: data[name] for name in _CLAIMS if name in data})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def sign_media_token(claims: StreamClaims, secret: str) -> str:
    """Encode and sign the claims."""
    body = _b64(json.dumps(asdict(claims), separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, body)}"


def verify_media_token(token: str, secret: str, *, call_sid: str, now: float) -> StreamClaims:
    """Return the claims if the token is genuine, unexpired and for ``call_sid``."""
    body, _, mac = token.partition(".")
    if not body or not hmac.compare_digest(mac, _mac(secret, body)):
        raise InvalidMediaToken("bad signature")
    try:
        claims = _claims(json.loads(_unb64(body)))
    except (ValueError, TypeError) as exc:
        raise InvalidMediaToken("unreadable claims") from exc
    if claims.expires_at < now:
        raise InvalidMediaToken("expired")
    if claims.call_sid != call_sid:
        raise InvalidMediaToken("token is for another call")
    return claims


def media_token_id(token: str) -> str:
    """What is kept of a used token: a digest of it, enough to know it again."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class UsedMediaTokens:
    """The ids of the tokens that have opened a stream, each kept until its token expires.

    ``remembered`` are the ones an earlier run of the process recorded and ``record`` keeps
    each new one for the next run (``adapters/used_token_journal.py``), so a token still
    valid across a restart is refused too.
    """

    def __init__(
        self,
        remembered: Iterable[tuple[str, float]] = (),
        record: Callable[[str, float], None] | None = None,
    ) -> None:
        self._expiry = dict(remembered)
        self._record = record
        self._next_prune = 0.0

    def __len__(self) -> int:
        return len(self._expiry)

    def claim(self, token_id: str, expires_at: float, now: float) -> bool:
        """True for the first use of the token, False for any later one (until it expires)."""
        if now >= self._next_prune:  # tokens live minutes: a sweep a minute bounds the set
            self._expiry = {tid: exp for tid, exp in self._expiry.items() if exp >= now}
            self._next_prune = now + 60.0
        if token_id in self._expiry:
            return False
        self._expiry[token_id] = expires_at
        if self._record is not None:
            self._record(token_id, expires_at)
        return True
