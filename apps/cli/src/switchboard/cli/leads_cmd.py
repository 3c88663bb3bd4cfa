"""``switchboard leads import FILE.csv``: validate locally, then upload in chunks with a bar."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from switchboard.cli.api_client import ApiClient, ApiKey, ApiUrl, err, fail
from switchboard.domain.leads.csv_import import ParsedLeads, parse_leads_csv, to_csv

app = typer.Typer(help="Leads: import a CSV file.")
CHUNK_ROWS = 200
MAX_ERRORS_SHOWN = 20


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{path}: no such file", 2)
    except UnicodeDecodeError as exc:
        fail(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8", 2)
    except OSError as exc:
        fail(f"{path}: {exc.strerror}", 2)


def _report(path: Path, parsed: ParsedLeads) -> None:
    for error in parsed.errors[:MAX_ERRORS_SHOWN]:
        err.print(
            f"[red]error:[/red] {path}:{error.line}: field '{error.field}': {error.message}",
            highlight=False,
            soft_wrap=True,
        )
    hidden = len(parsed.errors) - MAX_ERRORS_SHOWN
    if hidden > 0:
        err.print(f"… and {hidden} more errors", highlight=False)
    err.print(f"{path}: nothing imported ({len(parsed.errors)} errors)", highlight=False)


def _server_errors(
    file: Path, chunk: list[tuple[int, dict[str, str]]], errors: list[dict[str, Any]]
) -> None:
    # A chunk's line n (its header is line 1) is the file's line chunk[n - 2][0].
    for error in errors:
        line = chunk[error["line"] - 2][0] if 2 <= error["line"] <= len(chunk) + 1 else "?"
        err.print(
            f"[red]error:[/red] {file}:{line}: field '{error['field']}': {error['message']}",
            highlight=False,
            soft_wrap=True,
        )


@app.command("import")
def import_leads(
    file: Path = typer.Argument(
        ..., help="CSV with a header: phone, name, email, intent, status, notes"
    ),
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Create or update leads from FILE (keyed on phone); the whole file is checked first."""
    parsed = parse_leads_csv(_read(file))
    if parsed.errors:
        _report(file, parsed)
        raise typer.Exit(2)
    created = updated = 0
    columns = [TextColumn("importing {task.description}"), BarColumn(), MofNCompleteColumn()]
    with (
        ApiClient(api_url, api_key) as api,
        Progress(*columns, TimeElapsedColumn(), console=err) as progress,
    ):
        task = progress.add_task(file.name, total=len(parsed.rows))
        for start in range(0, len(parsed.rows), CHUNK_ROWS):
            chunk = parsed.rows[start : start + CHUNK_ROWS]
            body = to_csv(row for _, row in chunk).encode()
            response = api.request(
                "POST", "/api/v1/leads/import", files={"file": (file.name, body, "text/csv")}
            )
            if response.status_code == 400:
                _server_errors(file, chunk, response.json()["errors"])
                fail(f"{file}: stopped after {created + updated} imported rows", 2)
            result = api.json_of(response)
            created, updated = created + result["created"], updated + result["updated"]
            progress.advance(task, len(chunk))
    sys.stdout.write(f"{file}: {created} created, {updated} updated\n")
