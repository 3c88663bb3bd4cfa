"""``switchboard outbound start RUN_ID --follow``: start a run, then follow it to its end."""

from __future__ import annotations

import sys
import time
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from switchboard.cli.api_client import ApiClient, ApiKey, ApiUrl, err

app = typer.Typer(help="Outbound call runs (campaigns).")
LIVE_STATUSES = ("draft", "running")


def _counts(run: dict[str, Any]) -> str:
    return (
        f"{run['completed']} completed · {run['failed']} failed · "
        f"{run['in_progress']} in progress · {run['placed']}/{run['total']} placed"
    )


def _follow(api: ApiClient, run: dict[str, Any], interval: float) -> dict[str, Any]:
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
    extra = [TextColumn("{task.fields[counts]}"), TimeElapsedColumn()]
    with Progress(*columns, *extra, console=err) as progress:
        task = progress.add_task(f"run {run['id']} {run['name']}", total=100, counts="")
        while True:
            progress.update(task, completed=run["progress"] * 100, counts=_counts(run))
            if run["status"] not in LIVE_STATUSES:
                return run
            time.sleep(interval)  # polling a remote API: there is nothing local to wait on
            run = api.call("GET", f"/api/v1/outbound-runs/{run['id']}")


@app.command()
def start(
    run_id: int = typer.Argument(..., min=1, help="The run's id."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Show progress until it ends."),
    interval: float = typer.Option(1.0, min=0.1, help="Seconds between progress checks."),
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Start an outbound run (a second start is refused by the API)."""
    with ApiClient(api_url, api_key) as api:
        run = api.call("POST", f"/api/v1/outbound-runs/{run_id}/start")
        if follow:
            run = _follow(api, run, interval)
    sys.stdout.write(f"run {run['id']} is {run['status']}: {_counts(run)}\n")
    if follow and run["status"] != "completed":
        raise typer.Exit(1)
