"""``switchboard scheduler``: serve the scheduler, or print its schedules (``--list``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from switchboard.common.jobs.schedules import Schedule
from switchboard.common.settings import get_settings
from switchboard.scheduler import server
from switchboard.scheduler.clock import SystemClock
from switchboard.scheduler.registry import collect
from switchboard.scheduler.status import ScheduleStatus, read_status, status_lines
from switchboard.scheduler.timetable import UTC_ZONE, zone_info

err = Console(stderr=True)


def serve(host: str, port: int, modules: Sequence[str]) -> None:
    """Run the scheduler and its HTTP endpoints until interrupted."""
    server.serve(host, port, modules)


def _when(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "-"
    text = f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if zone == UTC_ZONE:
        return text
    return f"{text} ({moment.astimezone(zone_info(zone)):%H:%M %Z})"


def print_schedules(modules: Sequence[str], as_json: bool = False) -> None:
    """The schedule table: each schedule per zone, its last run, next run and emitted counts;
    with ``as_json``, the same lines as ``/health`` gives them (``ScheduleStatus.as_json``),
    one JSON array on stdout, the warnings still on stderr."""
    schedules = collect(modules).schedules
    now = SystemClock().now()
    settings = get_settings()
    embedded_file = settings.embedded_database_path
    lines: list[ScheduleStatus]
    if not settings.database_url and not embedded_file.exists():
        # Reading would create an empty database here: a listing must leave no trace.
        err.print(
            f"[yellow]No database at {embedded_file} yet (nothing has run from here): no last "
            "runs, and the schedules read in each business's time zone are not listed.[/yellow]"
        )
        lines = status_lines(schedules, now, {}, [])
    else:
        lines = _read_lines(schedules, now)
    if as_json:
        from switchboard.cli.output import emit_json

        emit_json([line.as_json() for line in lines])
    else:
        _print_table(lines)
    if not settings.enable_schedulers:
        err.print("ENABLE_SCHEDULERS=false: no schedule emits while it is set.")


def _read_lines(schedules: Sequence[Schedule], now: datetime) -> list[ScheduleStatus]:
    try:
        return read_status(schedules, now)
    except SQLAlchemyError as exc:
        err.print(
            f"[yellow]The database could not be read ({type(exc).__name__}): no last runs, and "
            "the schedules read in each business's time zone are not listed.[/yellow]"
        )
        return status_lines(schedules, now, {}, [])


def _print_table(lines: list[ScheduleStatus]) -> None:
    """The shared table printer's table (loaded only for ``--list``: serving needs none of
    it): whole cells on one line each, also when piped."""
    from switchboard.cli.output import field, print_table

    headers = ("schedule", "job", "when", "missed", "zone", "last run", "next run", "ticks")
    rows = [
        dict(
            zip(
                headers,
                (
                    line.name,
                    line.job,
                    line.when,
                    line.missed,
                    line.zone,
                    _when(line.last_run, line.zone),
                    _when(line.next_run, line.zone) if line.next_run else "at the next start",
                    f"{line.ticks_emitted} ({line.jobs_emitted} jobs)",
                ),
                strict=True,
            )
        )
        for line in lines
    ]
    print_table(rows, [field(header) for header in headers], empty="no schedules")
