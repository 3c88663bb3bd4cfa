"""``switchboard leads import FILE.csv`` (checked, then uploaded in chunks) and ``leads list``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from switchboard.cli import output
from switchboard.cli.api_client import ApiClient, ApiKey, ApiUrl, err, fail
from switchboard.cli.exit_codes import INTERRUPTED, REFUSED
from switchboard.cli.output import Column, field
from switchboard.domain.leads.csv_import import ParsedLeads, parse_leads_csv, to_csv

app = typer.Typer(help="Leads: import a CSV file, list them.")
CHUNK_ROWS = 200
MAX_ERRORS_SHOWN = 20
CsvFile = typer.Argument(..., help="CSV with a header: phone, name, email, intent, status, notes")
COLUMNS = (
    field("id"),
    field("phone"),
    field("name", long=True, max_width=30),
    field("email", long=True, max_width=30),
    field("status"),
    field("source"),
    field("intent", long=True, max_width=30),
    Column("created", lambda lead: output.when(lead["created_at"])),
)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{path}: no such file", REFUSED)
    except UnicodeDecodeError as exc:
        fail(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8", REFUSED)
    except OSError as exc:
        fail(f"{path}: {exc.strerror}", REFUSED)


def _print_error(where: str, field: str, message: str) -> None:
    # The message quotes the file ("'[/x]' is not a phone number"): text, not rich markup.
    said = escape(f"{where}: field '{field}': {message}")
    err.print(f"[red]error:[/red] {said}", highlight=False, soft_wrap=True)


def _report(path: Path, parsed: ParsedLeads) -> None:
    for error in parsed.errors[:MAX_ERRORS_SHOWN]:
        _print_error(f"{path}:{error.line}", error.field, error.message)
    hidden = len(parsed.errors) - MAX_ERRORS_SHOWN
    if hidden > 0:
        err.print(f"… and {hidden} more errors", highlight=False)
    count = len(parsed.errors)
    err.print(
        f"{path}: nothing imported ({count} error{'' if count == 1 else 's'})",
        highlight=False,
        markup=False,
    )


def _server_errors(
    file: Path, chunk: list[tuple[int, dict[str, str]]], errors: list[dict[str, Any]]
) -> None:
    # A chunk's line n (its header is line 1) is the file's line chunk[n - 2][0].
    for error in errors:
        line = chunk[error["line"] - 2][0] if 2 <= error["line"] <= len(chunk) + 1 else "?"
        _print_error(f"{file}:{line}", error["field"], error["message"])


def read_valid_csv(file: Path) -> ParsedLeads:
    """``file``'s rows, every one valid; otherwise print each problem and exit 2 (refused)."""
    parsed = parse_leads_csv(_read(file))
    if parsed.errors:
        _report(file, parsed)
        raise typer.Exit(REFUSED)
    return parsed


def upload(api: ApiClient, file: Path, parsed: ParsedLeads) -> tuple[int, int]:
    """Create or update ``parsed``'s leads in chunks, with a bar on stderr: (created, updated)."""
    created = updated = 0
    columns = [
        TextColumn("importing {task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    try:
        with Progress(*columns, TimeElapsedColumn(), console=err) as progress:
            task = progress.add_task(file.name, total=len(parsed.rows))
            for start in range(0, len(parsed.rows), CHUNK_ROWS):
                chunk = parsed.rows[start : start + CHUNK_ROWS]
                body = to_csv(row for _, row in chunk).encode()
                response = api.request(
                    "POST", "/api/v1/leads/import", files={"file": (file.name, body, "text/csv")}
                )
                if response.status_code == 400:
                    _server_errors(file, chunk, response.json()["errors"])
                    fail(f"{file}: stopped after {created + updated} imported rows", REFUSED)
                result = api.json_of(response)
                created, updated = created + result["created"], updated + result["updated"]
                progress.advance(task, len(chunk))
    except KeyboardInterrupt:
        # The chunks sent are imported: say how far it got (a chunk under way may be too).
        fail(
            f"{file}: interrupted after {created + updated} of {len(parsed.rows)} rows were "
            "imported; importing the file again updates them and adds the rest",
            INTERRUPTED,
        )
    return created, updated


@app.command("import")
def import_leads(
    file: Path = CsvFile,
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Create or update leads from FILE (keyed on phone); the whole file is checked first."""
    parsed = read_valid_csv(file)
    with ApiClient(api_url, api_key) as api:
        created, updated = upload(api, file, parsed)
    result = {"created": created, "updated": updated}
    output.message(f"{file}: {created} created, {updated} updated", result, as_json)


@app.command("list")
def list_leads(
    status: str | None = typer.Option(None, help="Only leads in this status (e.g. new)."),
    source: str | None = typer.Option(None, help="Only leads from this source (e.g. import)."),
    search: str | None = typer.Option(
        None, "--search", "-q", help="Only leads whose name, phone or email contains this."
    ),
    limit: int = typer.Option(50, min=1, max=1000, help="How many (newest first)."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """List leads, newest first."""
    params = {"status": status, "source": source, "q": search}
    with ApiClient(api_url, api_key) as api:
        leads = api.items("/api/v1/leads", {k: v for k, v in params.items() if v}, limit)
    output.show(leads, as_json, lambda: output.print_table(leads, COLUMNS, empty="no leads"))
