"""What the fields of a Voice webhook may hold, checked before anything is looked up or published.

Twilio's sids are two letters and 32 hex digits, its numbers E.164 (``common.phone``), its
durations a few ASCII digits, its statuses and directions words of a fixed set, its URLs
short printable ``http(s)`` ones; the ids our own callback URLs carry (``business_id``,
``run_id``, ``item_id``) are positive and fit a BIGINT. A field Twilio never sends that way is
refused (``MalformedField``, a 400 naming the field): an event the API could neither store
nor park is never published, and no raw value reaches a log line or the API's lookup URL.
A caller's number is the exception: Twilio sends ``anonymous`` (or a SIP address) for a
withheld one, so a ``From`` that is not E.164 is taken as withheld rather than refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from switchboard.common.phone import is_e164

#: ``CA…`` (a call), ``RE…`` (a recording): two letters, then 32 hex digits.
SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
#: Twilio ends a call at 24 hours at the latest (its ``timeLimit``); a recording is no longer.
MAX_DURATION_S = 24 * 60 * 60
#: What Twilio's ``CallStatus`` holds.
CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed"}
    | {"no-answer", "canceled"}
)
#: What Twilio's ``Direction`` holds for a call to or from a number (not a SIP trunk's).
DIRECTIONS = frozenset({"inbound", "outbound-api", "outbound-dial"})
#: The longest URL kept (a recording's ``source_url``: ``common.models.calls``, which the
#: gateway does not import: it would load SQLAlchemy into a process without a database).
MAX_URL_CHARS = 500


class MalformedField(ValueError):
    """A form field Twilio never sends that way; its message names the field."""


def sid(form: Mapping[str, str], name: str) -> str:
    """The sid in ``name`` (required)."""
    value = form.get(name, "")
    if not value:
        raise MalformedField(f"missing form field: {name}")
    if SID.fullmatch(value) is None:
        raise MalformedField(f"{name} is not a Twilio sid (two letters and 32 hex digits)")
    return value


def number(form: Mapping[str, str], name: str) -> str:
    """The phone number in ``name`` (required, E.164)."""
    value = form.get(name, "")
    if not is_e164(value):
        raise MalformedField(f"{name} is not a phone number in E.164 form")
    return value


def number_or_none(form: Mapping[str, str], name: str) -> str | None:
    """The number in ``name`` if it is E.164; None if missing, withheld or anything else."""
    value = form.get(name)
    return value if is_e164(value) else None


def duration(form: Mapping[str, str], name: str) -> int | None:
    """The seconds in ``name`` (ASCII digits, at most a day); None if missing or empty."""
    value = form.get(name, "")
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 6):
        raise MalformedField(f"{name} is not a number of seconds")
    seconds = int(value)
    if seconds > MAX_DURATION_S:
        raise MalformedField(f"{name} is over {MAX_DURATION_S} seconds")
    return seconds


def one_of(form: Mapping[str, str], name: str, allowed: frozenset[str]) -> str:
    """The word in ``name`` (required), one of ``allowed``."""
    value = form.get(name, "")
    if not value:
        raise MalformedField(f"missing form field: {name}")
    if value not in allowed:
        raise MalformedField(f"{name} is not one of Twilio's: {', '.join(sorted(allowed))}")
    return value


def one_of_or_none(form: Mapping[str, str], name: str, allowed: frozenset[str]) -> str | None:
    """The word in ``name``, one of ``allowed``; None if missing or empty."""
    return one_of(form, name, allowed) if form.get(name) else None


def url(form: Mapping[str, str], name: str) -> str:
    """The ``http(s)`` URL in ``name`` (required): printable ASCII without spaces, at most
    ``MAX_URL_CHARS``."""
    value = form.get(name, "")
    if not value:
        raise MalformedField(f"missing form field: {name}")
    if not (
        value.startswith(("https://", "http://"))
        and len(value) <= MAX_URL_CHARS
        and value.isascii()
        and value.isprintable()
        and " " not in value
    ):
        raise MalformedField(
            f"{name} is not an http(s) URL of at most {MAX_URL_CHARS} printable characters"
        )
    return value
