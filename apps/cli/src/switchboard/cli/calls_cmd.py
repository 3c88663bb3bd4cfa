"""``switchboard calls list|show``: the business's calls over the API."""

from __future__ import annotations

from typing import Any

import typer

from switchboard.cli import output
from switchboard.cli.api_client import ApiClient, ApiKey, ApiUrl
from switchboard.cli.output import Column, field

app = typer.Typer(help="Calls: list them, show one with its transcript.")
DIRECTIONS = ("inbound", "outbound")
COLUMNS = (
    field("id"),
    field("call_sid", "call sid"),
    field("direction"),
    field("from_number", "from"),
    field("to_number", "to"),
    field("status"),
    Column("started", lambda call: output.when(call["started_at"])),
    Column("duration", lambda call: _duration(call["duration_s"])),
    field("lead_id", "lead"),
    field("outbound_run_id", "run"),
    field("end_reason", "end reason", long=True, max_width=30),
)
RECORDING_COLUMNS = (
    field("id"),
    field("recording_sid", "recording sid"),
    field("status"),
    Column("duration", lambda rec: _duration(rec["duration_s"])),
)


def _duration(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f} s"


def _render_call(call: dict[str, Any]) -> None:
    output.print_record(
        [(column.header, output.text(column.value(call))) for column in COLUMNS[1:]]
        + [("ended", output.when(call["ended_at"])), ("summary", call["summary"])],
        title=f"call {call['id']}",
    )
    if call.get("transcript"):
        console = output.stdout_console()
        console.print("transcript:", style="bold")
        for turn in call["transcript"]:
            console.print(
                f"  {turn.get('role')}: {output.text(turn.get('text'))}",
                markup=False,
                soft_wrap=True,
            )
    if call.get("recordings"):
        output.print_table(call["recordings"], RECORDING_COLUMNS, empty="", title="recordings")


@app.command("list")
def list_calls(
    direction: str | None = typer.Option(None, help="inbound or outbound."),
    status: str | None = typer.Option(None, help="Only calls in this status (e.g. completed)."),
    lead_id: int | None = typer.Option(None, "--lead-id", min=1, help="Only this lead's calls."),
    number: str | None = typer.Option(None, help="Only calls whose from or to number has this."),
    limit: int = typer.Option(50, min=1, max=1000, help="How many (newest first)."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """List calls, newest first (without transcripts)."""
    if direction is not None and direction not in DIRECTIONS:
        raise typer.BadParameter("must be inbound or outbound", param_hint="--direction")
    params = {"direction": direction, "status": status, "lead_id": lead_id, "number": number}
    with ApiClient(api_url, api_key) as api:
        calls = api.items("/api/v1/calls", {k: v for k, v in params.items() if v}, limit)
    output.show(calls, as_json, lambda: output.print_table(calls, COLUMNS, empty="no calls"))


@app.command()
def show(
    call_id: int = typer.Argument(..., min=1, help="The call's id."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """One call: its numbers, status, summary, transcript and recordings."""
    with ApiClient(api_url, api_key) as api:
        call = api.call("GET", f"/api/v1/calls/{call_id}")
    output.show(call, as_json, lambda: _render_call(call))
