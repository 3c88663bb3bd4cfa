"""The calling window is read in the business's time zone, including windows across midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.common.models import OutboundRun
from switchboard.domain.outbound.driver import in_calling_window


def run(start: str | None, end: str | None) -> OutboundRun:
    return OutboundRun(name="r", window_start=start, window_end=end)


@pytest.mark.parametrize(
    ("start", "end", "utc_time", "tz", "inside"),
    [
        (None, None, "03:00", "UTC", True),
        ("09:00", "18:00", "08:59", "UTC", False),
        ("09:00", "18:00", "09:00", "UTC", True),
        ("09:00", "18:00", "18:00", "UTC", False),
        # 08:30 UTC is 09:30 in London in summer: inside there, outside in UTC.
        ("09:00", "18:00", "08:30", "Europe/London", True),
        ("22:00", "02:00", "23:30", "UTC", True),
        ("22:00", "02:00", "01:59", "UTC", True),
        ("22:00", "02:00", "12:00", "UTC", False),
    ],
)
def test_calls_are_placed_only_inside_the_window(start, end, utc_time, tz, inside) -> None:
    hour, minute = map(int, utc_time.split(":"))
    now = datetime(2026, 7, 1, hour, minute, tzinfo=UTC)
    assert in_calling_window(run(start, end), tz, now) is inside


@pytest.mark.parametrize(
    ("start", "end", "tz", "span_from", "hours"),
    [
        # New York springs forward at 02:00 on 8 March 2026 and falls back on 1 November.
        ("01:00", "05:00", "America/New_York", datetime(2026, 3, 8, 4, tzinfo=UTC), 3),
        ("09:00", "17:00", "America/New_York", datetime(2026, 3, 8, 4, tzinfo=UTC), 8),
        ("22:00", "06:00", "America/New_York", datetime(2026, 3, 7, 17, tzinfo=UTC), 7),
        ("01:00", "05:00", "America/New_York", datetime(2026, 11, 1, 3, tzinfo=UTC), 5),
        ("22:00", "06:00", "America/New_York", datetime(2026, 10, 31, 16, tzinfo=UTC), 9),
        # Chatham (+12:45, +13:45 in summer) springs forward at 02:45 on 27 September 2026.
        ("02:00", "04:00", "Pacific/Chatham", datetime(2026, 9, 26, 11, tzinfo=UTC), 1),
        ("09:00", "17:00", "Asia/Kathmandu", datetime(2026, 3, 8, 0, tzinfo=UTC), 8),
    ],
)
def test_a_window_is_read_on_the_wall_clock_across_a_clock_change(
    start: str, end: str, tz: str, span_from: datetime, hours: int
) -> None:
    """Over 24 hours holding one opening of the window, it is open for as long as the wall
    clock says: an hour less when the clock skips one inside it, an hour more when it repeats
    one, its length elsewhere (and in zones whose offset is not whole hours)."""
    minutes = (span_from + timedelta(minutes=m) for m in range(24 * 60))
    assert sum(in_calling_window(run(start, end), tz, now) for now in minutes) == hours * 60
