"""``switchboard scheduler --list --json`` and ``switchboard migrate --json`` print one JSON
document on stdout, as every command that prints a result does (docs/cli.md, ``--json``);
they printed a table and a line on stderr only."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from switchboard.cli.main import app
from switchboard.common.migrate import newest_script_revision
from switchboard.common.settings import Settings
from tests.support.environment import configured

runner = CliRunner()
SCHEDULE_KEYS = {
    "name",
    "job",
    "when",
    "missed",
    "zone",
    "last_run",
    "next_run",
    "ticks_emitted",
    "jobs_emitted",
}


def test_scheduler_list_json_is_the_schedules_as_health_gives_them(embedded: Settings) -> None:
    result = runner.invoke(app, ["scheduler", "--list", "--json"])

    assert result.exit_code == 0, result.output
    schedules = json.loads(result.stdout)
    assert {item["name"] for item in schedules} >= {"reminders", "outbound_reconcile"}
    assert all(set(item) == SCHEDULE_KEYS for item in schedules)
    reconcile = next(item for item in schedules if item["name"] == "outbound_reconcile")
    assert reconcile["when"] == "every 15 s" and reconcile["last_run"] is None


def test_scheduler_json_without_list_is_a_usage_error(embedded: Settings) -> None:
    result = runner.invoke(app, ["scheduler", "--json"])
    assert result.exit_code == 2
    assert "only with --list" in result.output


def test_migrate_json_says_whether_it_applied_and_the_revision(tmp_path: Path) -> None:
    with configured(database_url="", amqp_url="", var_dir=str(tmp_path / "var")):
        first = runner.invoke(app, ["migrate", "--json"])
        again = runner.invoke(app, ["migrate", "--json"])

    head = newest_script_revision()
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert json.loads(first.stdout) == {"applied": True, "revision": head}
    assert json.loads(again.stdout) == {"applied": False, "revision": head}
