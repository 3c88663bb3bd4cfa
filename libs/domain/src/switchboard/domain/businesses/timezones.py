"""The time zones a business may be in: IANA names (``Europe/London``, ``UTC``).

``zoneinfo.available_timezones()`` lists every file under the host's zoneinfo directories, so
it holds two names that are no one's local time: ``localtime``, the host's own link (the
business's calls would follow whatever zone the server is set to), and IANA's ``Factory``
placeholder (abbreviation ``-00``, "local time zone must be set").
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import available_timezones

#: Names the host lists that are not a place's time zone.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
EXAMPLE = "Europe/London"


@cache
def time_zones() -> frozenset[str]:
    """Every time zone name a business may use (read once: the listing walks the disk)."""
    return frozenset(available_timezones()) - NOT_ZONES


#: ``Etc/GMT+5``: a fixed offset whose sign is POSIX's, the opposite of ISO 8601's (UTC-05:00).
_POSIX_OFFSET = re.compile(r"^Etc/GMT([+-])(\d{1,2})$")


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone name, exactly as IANA writes it."""
    return name in time_zones()


def time_zone_problem(name: str) -> str | None:
    """Why ``name`` cannot be a business's time zone, in words; None if it can.

    Besides names IANA does not list, ``Etc/GMT+5`` and its like are refused: IANA keeps them
    for ships at sea, their sign is inverted (``Etc/GMT+5`` is five hours *behind* UTC), and a
    business in UTC+05:00 that chose it would have its calling window read ten hours off,
    and no daylight saving time either way.
    """
    posix = _POSIX_OFFSET.match(name)
    if posix is not None and int(posix.group(2)) != 0:
        sign, hours = posix.groups()
        actual = f"UTC{'-' if sign == '+' else '+'}{int(hours):02d}:00"
        return (
            f"{name!r} is {actual} (POSIX signs are inverted in these names): use the zone "
            f"of the business's place, like {EXAMPLE!r}, which also keeps its daylight saving"
        )
    if is_time_zone(name):
        return None
    same_but_case = sorted(z for z in time_zones() if z.lower() == name.lower())
    if same_but_case:
        meant = same_but_case[0]
        return f"unknown time zone {name!r}: names are case-sensitive, did you mean {meant!r}?"
    return f"unknown time zone {name!r} (use an IANA name like {EXAMPLE!r})"
