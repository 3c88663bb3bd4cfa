"""``switchboard keys create|list|revoke``: a business's API keys, straight in the database.

Like ``create-business``, these run where ``DATABASE_URL`` reaches the database (the admin
API offers the same: ``/api/v1/businesses/{id}/api-keys``). Rotation: create a new key, move
the client to it, then revoke the old one; the old key works until it is revoked.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console

from switchboard.cli import output
from switchboard.cli.api_client import fail
from switchboard.cli.database_check import require_database
from switchboard.cli.exit_codes import REFUSED
from switchboard.common.errors import NotFoundError
from switchboard.common.ids import MAX_ID

app = typer.Typer(help="API keys: create one (shown once), list them, revoke one.")
#: Ids are bigints: a larger one is a usage error, not the database's overflow as a traceback.
BusinessOption = typer.Option(..., "--business", min=1, max=MAX_ID, help="The business's id.")
COLUMNS = (
    output.field("id"),
    output.field("name", long=True),
    output.field("prefix"),
    output.Column("created", lambda key: output.when(key["created_at"])),
    output.Column("last used", lambda key: output.when(key["last_used_at"]) or "—"),
    output.Column("revoked", lambda key: output.when(key["revoked_at"]) or "—"),
)


def _public(key: object) -> dict[str, Any]:
    """``key`` as the admin API lists it (``/api/v1/businesses/{id}/api-keys``): ISO 8601
    times, null when never used or not revoked, so a script reads ``--json`` as it reads the
    API (a display dash there read as "revoked" to ``revoked_at != null``)."""
    from switchboard.api.schemas.api_keys import ApiKeyPublic

    return ApiKeyPublic.model_validate(key).model_dump(mode="json")


@app.command()
def create(
    business: int = BusinessOption,
    name: str = typer.Option("default", min=1, max=100, help="What the key is for."),
    as_json: bool = output.JsonOption,
) -> None:
    """Create a new key for the business and print it (shown once); other keys keep working."""
    from switchboard.domain.businesses.accounts import issue_api_key

    if not name.strip() or "\x00" in name:
        raise typer.BadParameter("must be a non-empty name without NUL", param_hint="--name")
    require_database()
    try:
        issued = issue_api_key(business, name)
    except NotFoundError as exc:
        fail(str(exc), REFUSED)  # as the admin API's 404
    if as_json:
        body = {"id": issued.id, "name": issued.name, "prefix": issued.prefix}
        output.emit_json({**body, "api_key": issued.key})
        return
    Console(stderr=True).print(
        f"created key {issued.id} ({issued.name}) for business {business}", markup=False
    )
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
        fail(str(exc), REFUSED)  # as the admin API's 404
    rows = [_public(key) for key in keys]
    output.show(rows, as_json, lambda: output.print_table(rows, COLUMNS, empty="no keys"))


@app.command()
def revoke(
    key_id: int = typer.Argument(..., min=1, max=MAX_ID, help="The key's id (see `keys list`)."),
    business: int = BusinessOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Revoke a key: every API process refuses it from the next request on (with --json: the
    key as keys list --json shows it, revoked_at set)."""
    from switchboard.domain.businesses.accounts import revoke_api_key

    require_database()
    try:
        key = revoke_api_key(business, key_id)
    except NotFoundError as exc:
        fail(str(exc), REFUSED)  # as the admin API's 404
    line = f"revoked key {key.id} ({key.prefix}…) of business {business}"
    output.message(line, _public(key), as_json)
