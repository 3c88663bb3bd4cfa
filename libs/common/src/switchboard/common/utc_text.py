"""How every service writes a time as text: UTC, with ``Z`` and exactly three decimals
(``2026-12-04T10:00:00.000Z``, JavaScript's ``toISOString()``).

Fixed width so the text sorts as the time does, milliseconds because a job's steps are often
less than a second apart, and truncated rather than rounded so a time never moves into the next
second. The API's responses and the scheduler's ``/health`` both write times so; no import
beyond the standard library, so any process may use it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(moment: datetime) -> str:
    """``moment`` as every response writes a time: UTC, milliseconds, ``Z``
    (``2026-12-04T10:00:00.000Z``); a naive ``moment`` is taken as UTC."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    # isoformat, not strftime: "%Y" does not pad years before 1000 to four digits.
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
