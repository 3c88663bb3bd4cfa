"""``switchboard events list|replay``: parked call events, over the API with the admin key."""

from __future__ import annotations

import sys
from typing import Any

import typer

from switchboard.cli import output
from switchboard.cli.api_client import ApiClient, ApiUrl
from switchboard.cli.exit_codes import FAILED, OK
from switchboard.cli.output import Column, field

app = typer.Typer(help="Parked call events: list them, replay them once their cause is fixed.")
PATH = "/api/v1/admin/parked-events"
AdminKey = typer.Option(..., "--admin-key", envvar="ADMIN_API_KEY", help="The admin API key.")
COLUMNS = (
    field("id"),
    field("event_id", "event"),
    Column("type", lambda event: event["event_type"] or "unreadable"),
    Column("business", lambda event: event["business_id"] or "—"),
    Column("call", lambda event: event["call_sid"] or "—"),
    field("failures"),
    Column("parked", lambda event: output.when(event["parked_at"])),
    field("error", long=True),
)


@app.command("list")
def list_parked(
    limit: int = typer.Option(100, min=1, max=500, help="How many (newest first)."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    admin_key: str = AdminKey,
) -> None:
    """List parked call events with their errors (call sids masked, no bodies)."""
    with ApiClient(api_url, admin_key) as api:
        page = api.call("GET", PATH, params={"limit": limit})
    if as_json:
        output.emit_json(page)
        return
    output.print_table(page["items"], COLUMNS, empty="no parked events")
    sys.stdout.write(f"{page['count']} parked\n")


@app.command()
def replay(
    parked_id: int | None = typer.Option(None, "--id", min=1, help="Only this parked event."),
    limit: int = typer.Option(100, min=1, max=1000, help="At most this many, oldest first."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    admin_key: str = AdminKey,
) -> None:
    # The help is rich markup: "[event ids]" would be a tag, and vanish.
    """Handle parked events again; exits 1 if any failed again (they stay parked).

    With --json: the API's answer, {"replayed": ["<event id>", …], "failed": [{"event_id",
    "error"}], "remaining": n}."""
    with ApiClient(api_url, admin_key) as api:
        if parked_id is not None:
            result = api.call("POST", f"{PATH}/{parked_id}/replay")
        else:
            result = api.call("POST", f"{PATH}/replay", params={"limit": limit})
    output.show(result, as_json, lambda: _render_replay(result))
    raise typer.Exit(FAILED if result["failed"] else OK)


def _render_replay(result: dict[str, Any]) -> None:
    for event_id in result["replayed"]:
        sys.stdout.write(f"replayed {event_id}\n")
    for failure in result["failed"]:
        said = output.one_line_text(f"{failure['event_id']}: {failure['error']}")
        sys.stdout.write(f"failed {said}\n")
    sys.stdout.write(
        f"{len(result['replayed'])} replayed, {len(result['failed'])} failed, "
        f"{result['remaining']} still parked\n"
    )
