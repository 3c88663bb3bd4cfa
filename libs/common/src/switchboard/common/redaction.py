"""Masking secrets and personal data in text and structured values, for logs and error columns.

``redact`` masks secrets only (tokens, keys, URL passwords): error texts stored for a business
keep what they say about its own data. ``scrub`` also masks personal data and is what every
log line goes through (``logging.py``): phone numbers keep their last four digits, e-mail
addresses, Web Push keys, SQL parameters, PostgreSQL's ``DETAIL`` (it repeats the values of a
violated key) and the input values pydantic quotes are hidden. ``scrub_value`` applies it to a
structured value, hiding whole fields whose name says they hold a body, a transcript or a
person's details.

Phone numbers are recognised in their E.164 form (``+`` or ``%2B`` followed by digits, the
form Switchboard stores and Twilio sends): a bare run of digits may be an id or a timestamp.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

HIDDEN = "***"

#: (pattern, replacement) pairs; a replacement keeps the label and masks the value.
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"), r"\1***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-***"),
    (re.compile(r"\bsbk_[A-Za-z0-9_-]{8,}"), "sbk_***"),
    (
        re.compile(
            r"(?i)((?:password|passwd|token|secret|api_key|apikey|auth)[\"']?\s*[=:]\s*[\"']?)[^\s\"',&]+"
        ),
        r"\1***",
    ),
    # To the userinfo's last "@" (a password may hold one: "p@ss"), before any "/".
    (re.compile(r"(://[^:/@\s]+:)[^/\s]*(@)"), r"\1***\2"),
]

_PERSONAL_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # SQLAlchemy's statement parameters (engines hide them; this covers any other source).
    (re.compile(r"\[parameters: [^\n]*\]"), "[parameters: ***]"),
    # PostgreSQL repeats the values of a violated key or a failing row in its DETAIL line.
    (re.compile(r"(DETAIL:\s*)[^\n]*"), r"\1***"),
    # pydantic quotes the input it refused.
    (re.compile(r"(input_value=).*?(, input_type=)"), r"\1***\2"),
    # Web Push subscription keys, as JSON, a dict's repr or key=value.
    (re.compile(r"(?i)(p256dh[\"']?\s*[=:]\s*[\"']?)[^\s\"',&}]+"), r"\1***"),
    # E-mail addresses, but not a URL's user name (``postgresql://user@host``).
    (
        re.compile(r"(?<![\w.+-])(?<!://)[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
        "***@***",
    ),
]
#: Substrings a text (lower-cased) holds whenever one of the patterns above or ``_PHONE``
#: below can match it: a text with none of them, and too short for ``_OPAQUE``, is returned
#: as it is without running a pattern (most of a log line's fields: a few microseconds
#: each instead of a dozen regular expressions). A new pattern adds its own here.
_CLUES = (
    ("bearer", "basic", "sk-", "sbk_", "password", "passwd", "token", "secret", "api_key")
    + ("apikey", "auth", "://", "[parameters: ", "detail:", "input_value=", "p256dh", "@")
    + ("+", "%2b")
)
_ANY_CLUE = re.compile("|".join(re.escape(clue) for clue in _CLUES))
#: The shortest text ``_OPAQUE`` matches.
_OPAQUE_MIN = 40
_DIGITS = re.compile(r"\D")
_PHONE = re.compile(r"(?:(?<![\w+])\+|%2[Bb])(\d(?:[\s().-]{0,2}\d){6,14})(?!\d)")
#: Long base64url runs with both cases: push keys, push endpoints' tokens, JWTs. Hex digests
#: and UUIDs (one case) are left alone.
_OPAQUE = re.compile(r"(?<![\w-])[A-Za-z0-9_-]{40,}={0,2}")

#: Fields whose whole value is hidden: what people said or wrote, and keys.
HIDDEN_FIELDS = frozenset(
    {
        "api_key",
        "auth",
        "auth_token",
        "authorization",
        "body",
        "content",
        "cookie",
        "email",
        "full_name",
        "name",
        "p256dh",
        "password",
        "secret",
        "summary",
        "text",
        "token",
        "transcript",
        "utterance",
    }
)
#: Fields holding a phone number: only the last four digits are kept.
PHONE_FIELDS = frozenset(
    {"caller", "callee", "from", "from_number", "number", "phone", "phone_number", "to"}
    | {"to_number"}
)


def redact(text: str) -> str:
    """Mask tokens, keys and URL passwords in free text (exception messages, URLs)."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask_phone(number: str) -> str:
    """``+***`` and the number's last four digits (all of it hidden if it has fewer than 7)."""
    digits = _DIGITS.sub("", number)
    return f"+{HIDDEN}{digits[-4:]}" if len(digits) >= 7 else f"+{HIDDEN}"


def _mask_opaque(match: re.Match[str]) -> str:
    token = match.group(0)
    mixed = any(c.isupper() for c in token) and any(c.islower() for c in token)
    return HIDDEN if mixed else token


def _plain(text: str) -> bool:
    """No pattern of :func:`scrub` can match ``text``. Only for ASCII: case-insensitive
    patterns match some other letters (``ſ`` for ``s``) that ``lower`` keeps apart."""
    if len(text) >= _OPAQUE_MIN or not text.isascii():
        return False
    return _ANY_CLUE.search(text.lower()) is None


def scrub(text: str) -> str:
    """:func:`redact`, then personal data: phone numbers to their last four digits, e-mail
    addresses, push keys, SQL parameters, PostgreSQL's ``DETAIL``, pydantic's input values."""
    return text if _plain(text) else _scrub_all(text)


def _scrub_all(text: str) -> str:
    """:func:`scrub`'s patterns, every one."""
    text = redact(text)
    for pattern, replacement in _PERSONAL_PATTERNS:
        text = pattern.sub(replacement, text)
    text = _PHONE.sub(lambda match: mask_phone(match.group(1)), text)
    return _OPAQUE.sub(_mask_opaque, text)


def scrub_field(name: str, value: Any) -> Any:
    """``value`` as a log line may show it under the field ``name`` (see :func:`scrub_value`)."""
    key = name.lower()
    if key in HIDDEN_FIELDS and value not in (None, ""):
        return HIDDEN
    if key in PHONE_FIELDS and isinstance(value, str) and len(_DIGITS.sub("", value)) >= 7:
        return mask_phone(value)
    return scrub_value(value)


def scrub_value(value: Any, describe: Callable[[Any], str] = str) -> Any:
    """A structured value with :func:`scrub` applied to its text, recursively; numbers and
    booleans as they are; any other object as its scrubbed ``describe`` (``str``)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {key: scrub_field(str(key), item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(scrub_value(item, describe) for item in value)
    if isinstance(value, list | set | frozenset):
        return [scrub_value(item, describe) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    return scrub(describe(value))
