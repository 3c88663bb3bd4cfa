"""One report from every benchmark's output: each figure beside its baseline, and the ratio.

Pure functions, no processes: ``bench/run_all.py`` runs the scripts and hands their output
here. The parsers turn what each script prints or writes into its figures; the tables
(``bench/report_tables.py``) show the figures ``docs/benchmarks.md`` shows, in the same rows,
so a table can be pasted there.
Ratios are always Switchboard ÷ its baseline measured in the same run (the host's speed
drifts too much for anything else to mean something).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.report_tables import TABLES, Row, headline, markdown_table


@dataclass(frozen=True)
class Outcome:
    """One benchmark's run: its figures when it succeeded, why not when it failed."""

    name: str
    kind: str  # which script's figures: a key of TABLES
    command: list[str]
    seconds: float
    exit_code: int | None  # None: stopped (timed out or interrupted)
    result: dict[str, Any] | None = None
    error: str = ""
    output_tail: str = ""
    logs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """It exited 0 and its figures were read."""
        return self.exit_code == 0 and self.result is not None and not self.error


# --- reading each script's output ----------------------------------------------------------


def last_json_object(stdout: str) -> dict[str, Any]:
    """The JSON object a script prints last, after its progress lines (bench/whatsapp.py)."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line == "{"]
    if not starts:
        raise ValueError("no JSON object in the output")
    value = json.loads("\n".join(lines[starts[-1] :]))
    if not isinstance(value, dict):
        raise ValueError("the output's last JSON value is not an object")
    return value


_WAY = re.compile(r"^(?P<name>.+): (?P<median>[\d.]+) µs/message \(rounds (?P<rounds>[\d., ]+)\)$")


def number_lookup_figures(stdout: str) -> dict[str, Any]:
    """bench/number_lookup.py's lines (``<way>: 462 µs/message (rounds 470, 455)``) as figures."""
    ways = [
        {
            "name": match["name"],
            "median_us": float(match["median"]),
            "rounds_us": [float(x) for x in match["rounds"].split(",")],
        }
        for match in map(_WAY.match, stdout.splitlines())
        if match
    ]
    if not ways:
        raise ValueError("no '<way>: N µs/message' lines in the output")
    return {"ways": ways}


# --- the whole report --------------------------------------------------------------------------

TITLES = {
    "jobs": "Jobs: `bench/jobs.py`",
    "whatsapp": "WhatsApp webhooks: `bench/whatsapp.py`",
    "whatsapp_api_alone": (
        "WhatsApp webhooks, the API alone: `bench/whatsapp.py --worker-processes 0`"
    ),
    "whatsapp_path": "WhatsApp, inbound webhook → reply at Twilio: `bench/whatsapp_path.py`",
    "gateway": "Voice gateway: `bench/gateway.py`",
    "number_lookup": "The number's business on the webhook's store path: `bench/number_lookup.py`",
}


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _section(outcome: Outcome) -> list[str]:
    lines = [f"## {TITLES.get(outcome.name, outcome.name)}", ""]
    if outcome.command:  # none: not run (the run was interrupted before it)
        lines += [f"`{' '.join(outcome.command)}` — {_duration(outcome.seconds)}", ""]
    if outcome.ok and outcome.result is not None:
        return [*lines, *TABLES[outcome.kind](outcome.result)]
    lines.append(f"**Failed**: {outcome.error}.")
    if outcome.output_tail:
        lines += ["", "Its output's last lines:", "", "```text", outcome.output_tail, "```"]
    if outcome.logs:
        lines += ["", "Logs: " + ", ".join(f"`{log}`" for log in outcome.logs)]
    return lines


def _machine_rows(machine: dict[str, Any]) -> list[tuple[str, str]]:
    dirty = " (uncommitted changes)" if machine.get("git_dirty") else ""
    fields = [
        ("CPUs", f"{machine.get('cpu_count')} × {machine.get('cpu_model')}"),
        ("memory", machine.get("memory")),
        ("load average (1, 5, 15 min) at start / end", machine.get("load_average")),
        ("OS", machine.get("os")),
        ("Python", machine.get("python")),
        ("PostgreSQL", machine.get("postgresql")),
        ("RabbitMQ", machine.get("rabbitmq")),
        ("Redis", machine.get("redis")),
        ("commit", f"{machine.get('git_commit')}{dirty}"),
    ]
    return [(name, str(value)) for name, value in fields]


def render_markdown(run: dict[str, Any], outcomes: Sequence[Outcome]) -> str:
    """The report: the run, the machine, a summary line per benchmark, then each one's table."""
    ran = sum(outcome.ok for outcome in outcomes)
    status = (
        f"all {ran} ran"
        if ran == len(outcomes)
        else f"{ran} of {len(outcomes)} ran, {len(outcomes) - ran} failed"
    )
    lines = [
        f"# Benchmarks, {run['started_at']}",
        "",
        f"`{run['command']}` ({run['size']} sizes) — {_duration(run['seconds'])}, {status}.",
        "Ratios are Switchboard ÷ the baseline measured beside it in the same run: on a shared",
        "host only they mean something (docs/benchmarks.md).",
        "",
        "## Machine",
        "",
    ]
    machine = _machine_rows(run["machine"])
    lines += ["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in machine), ""]
    summary: list[Row] = [
        (
            outcome.name,
            "ran" if outcome.ok else "**failed**",
            _duration(outcome.seconds),
            headline(outcome.kind, outcome.result) if outcome.result else outcome.error,
        )
        for outcome in outcomes
    ]
    lines += ["## Summary", ""]
    lines += markdown_table(["benchmark", "", "time", "headline"], summary)
    for outcome in outcomes:
        lines += ["", *_section(outcome)]
    return "\n".join(lines) + "\n"


def render_json(run: dict[str, Any], outcomes: Sequence[Outcome]) -> str:
    """The report's twin for tools: the run, the machine and every script's full figures."""
    benchmarks = [
        {
            "name": o.name,
            "command": o.command,
            "status": "ran" if o.ok else "failed",
            "seconds": round(o.seconds, 1),
            "exit_code": o.exit_code,
            "error": o.error or None,
            "output_tail": o.output_tail or None,
            "logs": o.logs,
            "result": o.result,
        }
        for o in outcomes
    ]
    all_ran = all(o.ok for o in outcomes)
    return json.dumps({**run, "all_ran": all_ran, "benchmarks": benchmarks}, indent=2) + "\n"
