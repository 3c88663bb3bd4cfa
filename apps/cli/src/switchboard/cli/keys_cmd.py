"""``switchboard keys create|list|revoke``: a business's API keys, straight in the database.

Like ``create-business``, these run where ``DATABASE_URL`` reaches the database (the admin
API offers the same: ``/api/v1/businesses/{id}/api-keys``). Rotation: create a new key, move
the client to it, then revoke the old one; the old key works until it is revoked.
"""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

from switchboard.cli import output
from switchboard.cli.api_client import fail
from switchboard.cli.database_check import require_database
from switchboard.common.errors import NotFoundError

app = typer.Typer(help="API keys: create one (shown once), list them, revoke one.")
BusinessOption = typer.Option(..., "--business", min=1, help="The business's id.")
COLUMNS = (
    output.field("id"),
    output.field("name", long=True),
    output.field("prefix"),
    output.field("created_at", "created"),
    output.field("last_used_at", "last used"),
    output.field("revoked_at", "revoked"),
)


def _when(moment: object) -> str:
    return str(moment)[:19] if moment is not None else "—"


@app.command()
def create(
    business: int = BusinessOption,
    name: str = typer.Option("default", min=1, max=100, help="What the key is for."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create a new key for the business and print it (shown once); other keys keep working."""
    from switchboard.domain.businesses.accounts import issue_api_key

    if not name.strip() or "\x00" in name:
        raise typer.BadParameter("must be a non-empty name without NUL", param_hint="--name")
    require_database()
    try:
        issued = issue_api_key(business, name)
    except NotFoundError as exc:
        fail(str(exc))
    if as_json:
        body = {"id": issued.id, "name": issued.name, "prefix": issued.prefix}
        sys.stdout.write(json.dumps({**body, "api_key": issued.key}) + "\n")
        return
    Console(stderr=True).print(f"created key {issued.id} ({issued.name}) for business {business}")
    sys.stdout.write(f"API key (shown once): {issued.key}\n")


@app.command("list")
def list_keys(
    business: int = BusinessOption,
    as_json: bool = output.JsonOption,
) -> None:
    """List the business's keys: id, name, prefix, last use, revocation (never the keys)."""
    from switchboard.domain.businesses.accounts import list_api_keys

    require_database()
    try:
        keys = list_api_keys(business)
    except NotFoundError as exc:
        fail(str(exc))
    rows = [
        {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "created_at": _when(key.created_at),
            "last_used_at": _when(key.last_used_at),
            "revoked_at": _when(key.revoked_at),
        }
        for key in keys
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    output.print_table(rows, COLUMNS, empty="no keys")


@app.command()
def revoke(
    key_id: int = typer.Argument(..., min=1, help="The key's id (see `keys list`)."),
    business: int = BusinessOption,
) -> None:
    """Revoke a key: every API process refuses it from the next request on."""
    from switchboard.domain.businesses.accounts import revoke_api_key

    require_database()
    try:
        key = revoke_api_key(business, key_id)
    except NotFoundError as exc:
        fail(str(exc))
    sys.stdout.write(f"revoked key {key.id} ({key.prefix}…) of business {business}\n")
