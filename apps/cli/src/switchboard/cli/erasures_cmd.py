"""``switchboard erasures request|list|show``: erasing a person's data (GDPR art. 17) over
the API. No command prints the number: the API never gives it back."""

from __future__ import annotations

from typing import Any

import typer

from switchboard.cli import output
from switchboard.cli.api_client import ApiClient, ApiKey, ApiUrl
from switchboard.cli.output import Column, field

app = typer.Typer(help="Erasures (GDPR art. 17): request one for a number, list, show.")
COLUMNS = (
    field("id"),
    field("status"),
    Column("erased", lambda erasure: sum(erasure["counts"].values())),
    Column("requested", lambda erasure: output.when(erasure["created_at"])),
    Column("finished", lambda erasure: output.when(erasure["finished_at"])),
    field("job_id", "job"),
)


def _render(erasure: dict[str, Any]) -> None:
    output.print_record(
        [
            ("status", erasure["status"]),
            ("requested", output.when(erasure["created_at"])),
            ("finished", output.when(erasure["finished_at"])),
            ("job", erasure["job_id"]),
            *((f"erased {kind}", count) for kind, count in erasure["counts"].items()),
        ],
        title=f"erasure {erasure['id']}",
    )


@app.command()
def request(
    phone: str = typer.Argument(..., help="The person's number, in E.164 form (+15551234567)."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Erase everything the business holds about the person with this number (a job does it;
    follow it with: switchboard erasures show ID). While one of the number is unfinished, that
    one is answered."""
    with ApiClient(api_url, api_key) as api:
        erasure = api.call("POST", "/api/v1/erasures", json={"phone": phone})
    if erasure["repeated"]:
        line = f"erasure {erasure['id']} of this number is already {erasure['status']}"
    else:
        follow = f"switchboard erasures show {erasure['id']}"
        line = f"erasure {erasure['id']} requested; follow it: {follow}"
    output.message(line, erasure, as_json)


@app.command("list")
def list_erasures(
    limit: int = typer.Option(50, min=1, max=1000, help="How many (newest first)."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """List erasures, newest first, with their status and how much each erased."""
    with ApiClient(api_url, api_key) as api:
        found = api.items("/api/v1/erasures", {}, limit)
    output.show(found, as_json, lambda: output.print_table(found, COLUMNS, empty="no erasures"))


@app.command()
def show(
    erasure_id: int = typer.Argument(..., min=1, help="The erasure's id."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """One erasure: its status, its job and what it erased so far, per kind."""
    with ApiClient(api_url, api_key) as api:
        erasure = api.call("GET", f"/api/v1/erasures/{erasure_id}")
    output.show(erasure, as_json, lambda: _render(erasure))
