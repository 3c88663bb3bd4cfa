"""The calling window is read in the business's time zone, including windows across midnight."""

from __future__ import annotations

from datetime import UTC, datetime

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
