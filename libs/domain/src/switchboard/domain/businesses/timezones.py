"""The time zones a business may be in: IANA names (``Europe/London``, ``UTC``).

``zoneinfo.available_timezones()`` lists every file under the host's zoneinfo directories, so
it holds two names that are no one's local time: ``localtime``, the host's own link (the
business's calls would follow whatever zone the server is set to), and IANA's ``Factory``
placeholder (abbreviation ``-00``, "local time zone must be set").
"""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

#: Names the host lists that are not a place's time zone.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
EXAMPLE = "Europe/London"


@cache
def time_zones() -> frozenset[str]:
    """Every time zone name a business may use (read once: the listing walks the disk)."""
    return frozenset(available_timezones()) - NOT_ZONES


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone name, exactly as IANA writes it."""
    return name in time_zones()
