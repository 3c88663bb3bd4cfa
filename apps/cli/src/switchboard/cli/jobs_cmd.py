"""``switchboard jobs list|retry|cancel``: the business's job ledger over the API."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from switchboard.cli.api_client import ApiClient, ApiKey, ApiUrl

app = typer.Typer(help="The job ledger: list jobs, retry dead ones, cancel queued ones.")
STATUSES = ("queued", "running", "succeeded", "failed", "dead", "cancelled")


@app.command("list")
def list_jobs(
    status: str | None = typer.Option(
        None, help=f"Only jobs in this state: {', '.join(STATUSES)}."
    ),
    limit: int = typer.Option(50, min=1, max=200, help="How many (newest first)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """List jobs, newest first."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"must be one of {', '.join(STATUSES)}", param_hint="--status")
    params: dict[str, str | int] = {"limit": limit, **({"status": status} if status else {})}
    with ApiClient(api_url, api_key) as api:
        page = api.call("GET", "/api/v1/jobs", params=params)
    if as_json:
        sys.stdout.write(json.dumps(page["items"]) + "\n")
        return
    table = Table("id", "actor", "queue", "status", "attempts", "enqueued", "last error")
    for job in page["items"]:
        table.add_row(
            job["id"],
            job["actor_name"],
            job["queue_name"],
            job["status"],
            str(job["attempts"]),
            job["enqueued_at"][:19],
            (job["last_error"] or "")[:60],
        )
    Console().print(table)


@app.command()
def retry(
    job_id: str = typer.Argument(..., help="The job's id."),
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Queue a dead, failed or cancelled job again."""
    with ApiClient(api_url, api_key) as api:
        job = api.call("POST", f"/api/v1/jobs/{job_id}/retry")
    sys.stdout.write(f"job {job['id']} is {job['status']}\n")


@app.command()
def cancel(
    job_id: str = typer.Argument(..., help="The job's id."),
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Cancel a queued job, or ask a running one to stop at its next checkpoint."""
    with ApiClient(api_url, api_key) as api:
        job = api.call("POST", f"/api/v1/jobs/{job_id}/cancel")
    asked = " and asked to stop" if job["status"] == "running" else ""
    sys.stdout.write(f"job {job['id']} is {job['status']}{asked}\n")
