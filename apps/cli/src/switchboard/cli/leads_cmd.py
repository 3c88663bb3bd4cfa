"""``switchboard leads import FILE.csv`` (checked here, then sent whole: the API imports a file
all rows or none, and so does the command) and ``leads list``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer

from switchboard.cli import output
from switchboard.cli.api_client import ApiClient, ApiKey, ApiUrl, err, fail, say_error
from switchboard.cli.exit_codes import INTERRUPTED, REFUSED
from switchboard.cli.output import Column, field
from switchboard.domain.leads.csv_import import (
    MAX_BYTES,
    TOO_LARGE,
    ParsedLeads,
    RowError,
    errors_to_show,
    parse_leads_csv,
    to_csv,
)

app = typer.Typer(help="Leads: import a CSV file, list them.")
#: How long the API may take over one import (10,000 rows, the most it takes, take ~6 s here).
IMPORT_TIMEOUT_S = 120.0
MAX_ERRORS_SHOWN = 20


def csv_path(given: str) -> Path:
    """The path of a CSV file as given; an empty one (``""``, which is ``.``) or a directory
    is a usage error naming the argument, exit 2 (it said ``.: Is a directory``)."""
    if not given.strip():
        raise typer.BadParameter("the path is empty: give the CSV file's")
    if Path(given).is_dir():
        raise typer.BadParameter(f"{given} is a directory: give a CSV file")
    return Path(given)


CsvFile = typer.Argument(
    ...,
    parser=csv_path,
    help="CSV with a header: phone, name, email, intent, status, notes",
)
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
    # The message quotes the file or the API ("'[/x]' is not a phone number"): said as text.
    say_error(f"{where}: field '{field}': {message}")


def _refuse(path: Path, errors: list[RowError]) -> NoReturn:
    """Print each problem (the first :data:`MAX_ERRORS_SHOWN`) and that nothing of the file
    was imported; exit 2 (refused)."""
    shown = errors_to_show(errors, MAX_ERRORS_SHOWN)
    for error in shown:
        _print_error(f"{path}:{error.line}", error.field, error.message)
    hidden = len(errors) - len(shown)
    if hidden > 0:
        err.print(f"… and {hidden} more errors", highlight=False)
    count = len(errors)
    err.print(
        f"{path}: nothing imported ({count} error{'' if count == 1 else 's'})",
        highlight=False,
        markup=False,
    )
    raise typer.Exit(REFUSED)


def _in_the_file(parsed: ParsedLeads, errors: list[dict[str, Any]]) -> list[RowError]:
    """The API's errors on the CSV it was sent (its header is line 1, then one line per row)
    at the file's own lines; one on the whole body (line 1) stays there."""
    rows = parsed.rows
    return [
        RowError(
            rows[error["line"] - 2][0] if 2 <= error["line"] <= len(rows) + 1 else 1,
            error["field"],
            error["message"],
        )
        for error in errors
    ]


def _import_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The rows an import's 400 refuses (its report's ``errors``); none for any other answer,
    which ``ApiClient.json_of`` explains (a bad key, an answer that is not the API's)."""
    if response.status_code != 400:
        return []
    try:
        report = response.json()
    except ValueError:
        return []
    errors = report.get("errors") if isinstance(report, dict) else None
    return errors if isinstance(errors, list) else []


def read_valid_csv(file: Path) -> ParsedLeads:
    """``file``'s rows, every one valid; otherwise print each problem and exit 2 (refused)."""
    parsed = parse_leads_csv(_read(file))
    if parsed.errors:
        _refuse(file, parsed.errors)
    return parsed


def upload(api: ApiClient, file: Path, parsed: ParsedLeads) -> tuple[int, int]:
    """Create or update ``parsed``'s leads in one request: (created, updated).

    The API imports what it is sent all rows or none, so the file goes whole: a row only the
    API can refuse (its number being erased) leaves none of the file imported, as a bad row
    found here does. The API takes up to 10,000 rows (``parse_leads_csv`` refused more) and
    5 MB; a larger body is refused here, before anything is sent."""
    body = to_csv(row for _, row in parsed.rows).encode()
    if len(body) > MAX_BYTES:
        _refuse(file, [TOO_LARGE])
    count = len(parsed.rows)
    try:
        with err.status(f"importing {file.name} ({count} rows)"):
            response = api.request(
                "POST",
                "/api/v1/leads/import",
                files={"file": (file.name, body, "text/csv")},
                timeout=IMPORT_TIMEOUT_S,
            )
    except KeyboardInterrupt:
        # The request may have reached the API, which then imports it whole, or not at all.
        fail(
            f"{file}: interrupted while its {count} rows were being imported: the API imports "
            "all of them or none; importing the file again is safe (it updates those imported)",
            INTERRUPTED,
        )
    refused = _import_errors(response)
    if refused:
        _refuse(file, _in_the_file(parsed, refused))
    result = api.json_of(response)
    return result["created"], result["updated"]


@app.command("import")
def import_leads(
    file: Path = CsvFile,
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Create or update leads from FILE (keyed on phone), all rows or none: the whole file is
    checked here, then imported in one request (up to 10,000 rows and 5 MB). A row the API
    refuses (a number being erased) leaves nothing imported, and names its line."""
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
