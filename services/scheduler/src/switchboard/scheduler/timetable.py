"""When a schedule ticks: cron expressions read by cronsim (DST handled as Debian's cron
does: a time skipped by the clock change runs at the change, a repeated hour runs once), and
intervals counted from the Unix epoch so every replica computes the same ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from switchboard.common.jobs.schedules import AtStart, Cron, Every, Schedule, When, Zone
from switchboard.common.logging import get_logger

log = get_logger(__name__)

#: The zone key of schedules read in UTC (and of businesses whose zone is UTC).
UTC_ZONE = "UTC"
_SECOND = timedelta(seconds=1)


@lru_cache(maxsize=1024)
def zone_info(name: str) -> tzinfo:
    """The time zone named ``name``; UTC (with a warning) for a name the system does not know."""
    if name in (UTC_ZONE, "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("scheduler.unknown_time_zone", zone=name[:64], using=UTC_ZONE)
        return UTC


def validate(schedule: Schedule) -> None:
    """Raise ``ValueError`` naming the schedule if its cron expression does not parse."""
    if isinstance(schedule.when, Cron):
        try:
            CronSim(schedule.when.expression, datetime.now(UTC))
        except CronSimError as exc:
            raise ValueError(
                f"schedule {schedule.name}: cron {schedule.when.expression!r}: {exc}"
            ) from exc


def next_after(when: When, tz: tzinfo, moment: datetime) -> datetime | None:
    """The first tick strictly after ``moment`` (UTC); None for :class:`AtStart` or a cron
    expression that matches nothing in the next 50 years."""
    match when:
        case Every(seconds=seconds):
            return datetime.fromtimestamp((int(moment.timestamp()) // seconds + 1) * seconds, UTC)
        case Cron(expression=expression):
            try:
                return next(CronSim(expression, moment.astimezone(tz))).astimezone(UTC)
            except StopIteration:
                return None
        case AtStart():
            return None


def latest_at_or_before(when: When, tz: tzinfo, now: datetime) -> datetime | None:
    """The last tick at or before ``now`` (UTC); None if there is none (or :class:`AtStart`)."""
    match when:
        case Every(seconds=seconds):
            return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)
        case Cron(expression=expression):
            start = (now.replace(microsecond=0) + _SECOND).astimezone(tz)
            try:
                found = next(CronSim(expression, start, reverse=True)).astimezone(UTC)
            except StopIteration:
                return None
            # Going backwards, cronsim does not see a tick in the first pass of a repeated
            # hour once the clock is in the second: going forwards again finds it.
            while (later := next_after(when, tz, found)) is not None and later <= now:
                found = later
            return found
        case AtStart():
            return None


def describe(schedule: Schedule) -> str:
    """``cron 0 3 * * * (business time zone)``, ``every 60 s``, ``at start``."""
    match schedule.when:
        case Every(seconds=seconds):
            return f"every {seconds} s"
        case Cron(expression=expression):
            where = "business time zone" if schedule.zone is Zone.BUSINESS else "UTC"
            return f"cron {expression} ({where})"
        case AtStart():
            return "at start"
