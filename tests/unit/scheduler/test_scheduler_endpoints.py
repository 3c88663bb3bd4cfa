"""``/health``, ``/metrics`` and ``switchboard scheduler --list``: leader or follower, and per
schedule its last and next run and what it emitted."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from switchboard.cli.main import app as cli
from switchboard.common.jobs.catalog import SCHEDULE_REMINDERS
from switchboard.common.settings import Settings
from switchboard.scheduler.app import create_app
from switchboard.scheduler.clock import FakeClock
from tests.support.environment import configured
from tests.support.waiting import wait_for
from tests.unit.scheduler.rows import at, business_in, due_reminder, emitted


def test_health_and_metrics_say_who_leads_and_each_schedule_s_last_and_next_run(
    embedded: Settings,
) -> None:
    business_id = business_in("Europe/Berlin")
    due_reminder(business_id)
    clock = FakeClock(at(2027, 1, 1, 12, 0, 30))
    app = create_app(embedded, migrate=False, clock=clock)
    scheduler = app.state.scheduler

    with TestClient(app) as client:
        wait_for(lambda: scheduler.state.schedules, what="the first pass")
        clock.set(at(2027, 1, 1, 12, 1))
        wait_for(lambda: emitted(SCHEDULE_REMINDERS.name), what="the 12:01 reminders scan")
        wait_for(lambda: _status(client.get("/health").json(), "reminders")["ticks_emitted"])
        health = client.get("/health").json()
        metrics = client.get("/metrics").text

    assert health["service"] == "scheduler"
    ours = health["scheduler"]
    assert (ours["role"], ours["emitting"]) == ("leader", True)
    # Every time written as the API writes one (common.utc_text), not isoformat's +00:00.
    assert ours["leading_since"] == "2027-01-01T12:00:30.000Z"
    assert _status(health, "reminders") == {
        "name": "reminders",
        "job": "schedule_reminders_job",
        "when": "every 60 s",
        "missed": "catch_up_once",
        "zone": "UTC",
        "last_run": "2027-01-01T12:01:00.000Z",
        "next_run": "2027-01-01T12:02:00.000Z",
        "ticks_emitted": 1,
        "jobs_emitted": 1,
    }
    cleanup = _status(health, "recording_cleanup")
    assert cleanup["zone"] == "Europe/Berlin"
    assert cleanup["last_run"] == "2027-01-01T02:00:00.000Z"  # 03:00 in Berlin, in winter
    assert cleanup["next_run"] == "2027-01-02T02:00:00.000Z"
    assert _status(health, "warmup_agents")["next_run"] is None
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
    }
    reminders = (("schedule", "reminders"), ("zone", "UTC"))
    assert samples[("switchboard_scheduler_leader", ())] == 1
    assert samples[("switchboard_scheduler_emitting", ())] == 1
    assert samples[("switchboard_scheduler_ticks_emitted_total", reminders)] == 1
    assert samples[("switchboard_scheduler_jobs_emitted_total", reminders)] == 1
    assert samples[("switchboard_scheduler_last_run_timestamp_seconds", reminders)] == (
        at(2027, 1, 1, 12, 1).timestamp()
    )
    assert samples[("switchboard_scheduler_next_run_timestamp_seconds", reminders)] == (
        at(2027, 1, 1, 12, 2).timestamp()
    )


def _status(health: dict, name: str) -> dict:  # type: ignore[type-arg]
    [found] = [s for s in health["scheduler"]["schedules"] if s["name"] == name]
    return dict(found)


def test_switchboard_scheduler_list_prints_every_schedule_with_its_next_run(
    embedded: Settings,
) -> None:
    business_in("America/New_York")

    result = CliRunner().invoke(cli, ["scheduler", "--list"], env={"COLUMNS": "300"})

    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert set(lines) >= {
        "warmup_agents",
        "recording_cleanup",
        "reminders",
        "whatsapp_idle_summaries",
        "outbound_reconcile",
        "job_retention",
    }
    assert "America/New_York" in lines["recording_cleanup"]
    assert (
        "(03:00 EST)" in lines["recording_cleanup"] or "(03:00 EDT)" in lines["recording_cleanup"]
    )
    assert "every 15 s" in lines["outbound_reconcile"]
    assert "at the next start" in lines["warmup_agents"]


def test_the_schedule_list_piped_keeps_every_cell_whole(embedded: Settings) -> None:
    """Off a terminal (``| grep``, a log), as ``jobs list`` does: before, the table was 80
    columns wide and cut names to ``warmup…``."""
    result = CliRunner().invoke(cli, ["scheduler", "--list"], env={"COLUMNS": None})

    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert "whatsapp_idle_summaries" in result.stdout and "at the next start" in result.stdout


def test_listing_the_schedules_where_nothing_has_run_creates_no_database(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    with configured(database_url="", amqp_url="", var_dir=str(var_dir)):
        result = CliRunner().invoke(cli, ["scheduler", "--list"], env={"COLUMNS": "300"})

    assert result.exit_code == 0, result.output
    assert "outbound_reconcile" in result.stdout and "No database at" in result.stderr
    assert not (var_dir / "switchboard.db").exists()
