"""``switchboard outbound create|list|status|start|cancel``: outbound call runs over the API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from switchboard.cli import leads_cmd, output
from switchboard.cli.api_client import ApiClient, ApiKey, ApiUrl, err, fail
from switchboard.cli.exit_codes import FAILED, INTERRUPTED
from switchboard.cli.output import Column, field

app = typer.Typer(
    help="Outbound call runs (campaigns): create, list, start (--follow), status, cancel."
)
LIVE_STATUSES = ("draft", "running")
RunArgument = typer.Argument(..., min=1, help="The run's id.")
RUN_COLUMNS = (
    field("id"),
    field("name", long=True, max_width=40),
    field("status"),
    Column("progress", lambda run: f"{run['progress']:.0%}"),
    field("total"),
    field("completed"),
    field("failed"),
    field("in_progress", "in progress"),
    Column("started", lambda run: output.when(run["started_at"])),
    Column("finished", lambda run: output.when(run["finished_at"])),
    field("end_reason", "end reason", long=True, max_width=30),
    field("last_error", "last failure", long=True, max_width=40),
)
ITEM_COLUMNS = (
    field("id"),
    field("lead_id", "lead"),
    field("phone"),
    field("status"),
    field("attempts"),
    field("call_sid", "call"),
    field("last_call_status", "call status"),
    field("error", "reason", long=True),
)


def _counts(run: dict[str, Any]) -> str:
    return (
        f"{run['completed']} completed · {run['failed']} failed · "
        f"{run['in_progress']} in progress · {run['placed']}/{run['total']} placed"
    )


def _follow(api: ApiClient, run: dict[str, Any], interval: float) -> dict[str, Any]:
    columns = [TextColumn("{task.description}", markup=False), BarColumn(), TaskProgressColumn()]
    extra = [TextColumn("{task.fields[counts]}"), TimeElapsedColumn()]
    try:
        with Progress(*columns, *extra, console=err) as progress:
            task = progress.add_task(f"run {run['id']} {run['name']}", total=100, counts="")
            while True:
                progress.update(task, completed=run["progress"] * 100, counts=_counts(run))
                if run["status"] not in LIVE_STATUSES:
                    return run
                time.sleep(interval)  # polling a remote API: there is nothing local to wait on
                run = api.call("GET", f"/api/v1/outbound-runs/{run['id']}")
    except KeyboardInterrupt:
        # Ctrl-C stops the watching, not the run: say so, and how to stop the run too.
        fail(
            f"stopped following run {run['id']}, which goes on: switchboard outbound status "
            f"{run['id']} shows it, switchboard outbound cancel {run['id']} stops it",
            INTERRUPTED,
        )


def _lead_ids_of(api: ApiClient, csv: Path) -> list[int]:
    """Import ``csv``'s leads (created or updated), then their ids in the file's order."""
    parsed = leads_cmd.read_valid_csv(csv)  # a lead or more: a header alone is refused
    leads_cmd.upload(api, csv, parsed)
    wanted = {row["phone"] for _, row in parsed.rows}
    found: dict[str, int] = {}
    # The API finds leads by page, not by a list of phones: read pages until all are seen.
    for page in api.pages("/api/v1/leads", {"limit": 200}):
        found.update((lead["phone"], lead["id"]) for lead in page if lead["phone"] in wanted)
        if len(found) == len(wanted):
            break
    missing = wanted - found.keys()
    if missing:
        fail(f"{csv}: {len(missing)} imported leads could not be found again; try once more")
    return [found[row["phone"]] for _, row in parsed.rows]


def _render_status(run: dict[str, Any], items: list[dict[str, Any]]) -> None:
    output.print_record(
        [
            ("status", run["status"] + (" (live)" if run["active"] else "")),
            ("progress", f"{run['progress']:.0%} · {_counts(run)}"),
            ("cancelled items", run["cancelled"]),
            ("concurrency", run["concurrency"]),
            ("window", run["window_start"] and f"{run['window_start']}–{run['window_end']}"),
            ("started", output.when(run["started_at"])),
            ("finished", output.when(run["finished_at"])),
            ("end reason", run["end_reason"]),
            ("last failure", run.get("last_error")),
        ],
        title=f"run {run['id']} {run['name']}",
    )
    output.print_table(items, ITEM_COLUMNS, empty="no items")


@app.command()
def create(
    name: str = typer.Option(..., help="The run's name."),
    lead_ids: list[int] = typer.Option(
        [], "--lead-id", min=1, help="A lead to call (repeat the option for more)."
    ),
    csv: Path | None = typer.Option(
        None,
        "--csv",
        parser=leads_cmd.csv_path,
        help="Import this leads CSV (phone, name, ...) and call those leads.",
    ),
    concurrency: int = typer.Option(1, min=1, max=100, help="Calls at once."),
    window_start: str | None = typer.Option(None, help="Calling window start (HH:MM)."),
    window_end: str | None = typer.Option(None, help="Calling window end (HH:MM)."),
    max_attempts: int = typer.Option(1, min=1, max=5, help="Dial attempts per lead."),
    retry_delay: int = typer.Option(300, min=0, help="Seconds between dial attempts."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Create a draft run over some leads; then start it with: switchboard outbound start RUN_ID."""
    if bool(lead_ids) == (csv is not None):
        raise typer.BadParameter("give exactly one of --lead-id (one or more) or --csv")
    with ApiClient(api_url, api_key) as api:
        chosen = _lead_ids_of(api, csv) if csv is not None else lead_ids
        body = {
            "name": name,
            "lead_ids": chosen,
            "concurrency": concurrency,
            "window_start": window_start,
            "window_end": window_end,
            "retry_policy": {"max_attempts": max_attempts, "retry_delay_s": retry_delay},
        }
        run = api.call("POST", "/api/v1/outbound-runs", json=body)
    leads = f"{run['total']} lead" + ("" if run["total"] == 1 else "s")
    line = f"run {run['id']} created ({leads}); start it: switchboard outbound start {run['id']}"
    output.message(line, run, as_json)


@app.command("list")
def list_runs(
    limit: int = typer.Option(50, min=1, max=1000, help="How many (newest first)."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """List runs, newest first, with their progress."""
    with ApiClient(api_url, api_key) as api:
        runs = api.items("/api/v1/outbound-runs", {}, limit)
    output.show(runs, as_json, lambda: output.print_table(runs, RUN_COLUMNS, empty="no runs"))


@app.command()
def status(
    run_id: int = RunArgument,
    items: int = typer.Option(100, min=0, max=10_000, help="How many of its items to show."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """One run: its progress, and each lead's call with the reason of any failure."""
    with ApiClient(api_url, api_key) as api:
        run = api.call("GET", f"/api/v1/outbound-runs/{run_id}")
        rows = api.items(f"/api/v1/outbound-runs/{run_id}/items", {}, items) if items else []
    output.show({**run, "items": rows}, as_json, lambda: _render_status(run, rows))


@app.command()
def start(
    run_id: int = RunArgument,
    follow: bool = typer.Option(False, "--follow", "-f", help="Show progress until it ends."),
    interval: float = typer.Option(1.0, min=0.1, help="Seconds between progress checks."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Start an outbound run (a second start is refused by the API)."""
    with ApiClient(api_url, api_key) as api:
        run = api.call("POST", f"/api/v1/outbound-runs/{run_id}/start")
        if follow:
            run = _follow(api, run, interval)
    output.message(f"run {run['id']} is {run['status']}: {_counts(run)}", run, as_json)
    if run["failed"]:
        reason = output.one_line_text(str(run.get("last_error") or ""))
        last = f"last failure: {reason}; " if reason else ""
        err.print(f"{last}reasons: switchboard outbound status {run['id']}", markup=False)
    if follow and run["status"] != "completed":
        raise typer.Exit(FAILED)


@app.command()
def cancel(
    run_id: int = RunArgument,
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Cancel a run: once this returns, no new call is placed for it."""
    with ApiClient(api_url, api_key) as api:
        run = api.call("POST", f"/api/v1/outbound-runs/{run_id}/cancel")
    output.message(f"run {run['id']} is {run['status']}: {_counts(run)}", run, as_json)
