"""``switchboard keys create|list|revoke`` against the embedded database."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from switchboard.cli.main import app
from switchboard.domain.businesses import business_for_api_key
from tests.support.factories import make_business

runner = CliRunner()


def test_keys_are_created_listed_and_revoked_from_the_command_line(embedded) -> None:
    business = make_business()
    created = runner.invoke(
        app, ["keys", "create", "--business", str(business.id), "--name", "ci", "--json"]
    )
    assert created.exit_code == 0, created.output
    issued = json.loads(created.stdout.strip().splitlines()[-1])
    assert business_for_api_key(issued["api_key"]) == business.id
    listed = runner.invoke(app, ["keys", "list", "--business", str(business.id), "--json"])
    rows = json.loads(listed.stdout.strip().splitlines()[-1])
    assert [row["name"] for row in rows] == ["default", "ci"]
    assert issued["api_key"] not in listed.stdout
    revoked = runner.invoke(
        app, ["keys", "revoke", str(issued["id"]), "--business", str(business.id)]
    )
    assert revoked.exit_code == 0, revoked.output
    assert business_for_api_key(issued["api_key"]) is None
    assert business_for_api_key(business.api_key) == business.id


def test_keys_commands_name_a_missing_business_or_key(embedded) -> None:
    business = make_business()
    missing = runner.invoke(app, ["keys", "create", "--business", "999999999"])
    assert missing.exit_code == 2 and "business 999999999 not found" in missing.output
    foreign = runner.invoke(app, ["keys", "revoke", "999999999", "--business", str(business.id)])
    assert foreign.exit_code == 2 and "API key 999999999 not found" in foreign.output


def test_an_id_beyond_bigint_is_a_usage_error_not_a_traceback(embedded) -> None:
    """Before, the database's overflow ended ``keys list --business 99999999999999999999`` with
    a traceback, exit 1 (SQLite's OverflowError, PostgreSQL's "bigint out of range")."""
    too_big = str(2**63)
    for args in (
        ["keys", "list", "--business", too_big],
        ["keys", "create", "--business", too_big],
        ["keys", "revoke", too_big, "--business", "1"],
        ["keys", "revoke", "1", "--business", too_big],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert "less than or equal to 9223372036854775807" in " ".join(result.output.split())


def test_the_key_table_piped_keeps_each_key_on_one_line(embedded) -> None:
    """Before, off a terminal the table was 80 columns wide and wrapped names and times."""
    business = make_business()
    name = "the CRM's nightly sync of yesterday's calls"
    runner.invoke(app, ["keys", "create", "--business", str(business.id), "--name", name])
    listed = runner.invoke(app, ["keys", "list", "--business", str(business.id)])
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.stdout.splitlines() if name in line]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row), row  # created, whole


def test_keys_list_json_says_null_for_a_key_never_used_or_not_revoked(embedded) -> None:
    """Before, ``--json`` carried the table's dash: ``revoked_at: "—"`` made every live key
    look revoked to a script, and its times were not ISO 8601 as the API's are."""
    business = make_business()
    args = ["keys", "create", "--business", str(business.id), "--name", "spare", "--json"]
    spare = json.loads(runner.invoke(app, args).stdout)
    runner.invoke(app, ["keys", "revoke", str(spare["id"]), "--business", str(business.id)])
    listed = runner.invoke(app, ["keys", "list", "--business", str(business.id), "--json"])
    assert listed.exit_code == 0, listed.output
    default, revoked = json.loads(listed.stdout)
    assert default["revoked_at"] is None and default["last_used_at"] is None
    assert revoked["last_used_at"] is None
    for moment in (default["created_at"], revoked["created_at"], revoked["revoked_at"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", moment), moment


def test_keys_revoke_json_is_the_key_as_keys_list_json_shows_it(embedded) -> None:
    """Before, ``keys revoke`` had no ``--json``: only a line of text for people."""
    business = make_business()
    args = ["keys", "create", "--business", str(business.id), "--name", "old", "--json"]
    old = json.loads(runner.invoke(app, args).stdout)
    revoke = ["keys", "revoke", str(old["id"]), "--business", str(business.id), "--json"]
    revoked = runner.invoke(app, revoke)
    assert revoked.exit_code == 0, revoked.output
    shown = json.loads(revoked.stdout)
    listed = runner.invoke(app, ["keys", "list", "--business", str(business.id), "--json"])
    assert shown == json.loads(listed.stdout)[-1]
    assert shown["id"] == old["id"] and shown["prefix"] == old["prefix"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", shown["revoked_at"])
    assert old["api_key"] not in revoked.stdout


def test_a_key_named_like_rich_markup_is_created_and_shown(embedded) -> None:
    """The name is the operator's text: "[/x]" ended ``keys create`` in a MarkupError after
    the key was made, so the key, shown once, was never shown."""
    business = make_business()
    args = ["keys", "create", "--business", str(business.id), "--name", "[/x] nightly"]
    created = runner.invoke(app, args)
    assert created.exit_code == 0, created.output
    assert "created key" in created.stderr and "([/x] nightly)" in created.stderr
    assert re.search(r"API key \(shown once\): sbk_\S+", created.stdout)
