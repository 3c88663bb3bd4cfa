"""``switchboard events list|replay`` against a real API process, with the admin key."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchboard.api.events import parking
from switchboard.cli.main import app
from switchboard.common.errors import NotFoundError
from switchboard.common.events import CallStatusChanged, utc_now
from switchboard.common.settings import Settings
from tests.support.api_server import running_api, shared_sqlite
from tests.support.factories import make_business

pytestmark = pytest.mark.e2e
runner = CliRunner()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path]]:
    directory = tmp_path_factory.mktemp("events-cli")
    with shared_sqlite(directory) as settings:
        yield settings, directory


@pytest.fixture(scope="module")
def api_url(database: tuple[Settings, Path]) -> Iterator[str]:
    with running_api(*database) as url:
        yield url


def cli(api_url: str, settings: Settings, *args: str):
    env = {"API_BASE_URL": api_url, "ADMIN_API_KEY": settings.admin_api_key}
    return runner.invoke(app, ["events", *args], env=env)


def test_events_list_shows_what_is_parked_and_replay_handles_it(api_url, database) -> None:
    settings, _ = database
    business = make_business()
    event = CallStatusChanged(
        business_id=business.id,
        call_sid="CA" + uuid.uuid4().hex,
        call_status="ringing",
        occurred_at=utc_now() - timedelta(seconds=5),
    )
    parking.park(event.to_json_bytes(), NotFoundError("the cause, since fixed"), event)

    listed = cli(api_url, settings, "list", "--json")
    assert listed.exit_code == 0, listed.output
    page = json.loads(listed.stdout)
    assert page["count"] == 1 and page["items"][0]["event_id"] == event.event_id
    assert event.call_sid not in listed.stdout

    replayed = cli(api_url, settings, "replay")
    assert replayed.exit_code == 0, replayed.output
    assert f"replayed {event.event_id}" in replayed.stdout
    assert "1 replayed, 0 failed, 0 still parked" in replayed.stdout
    assert parking.count_parked() == 0

    refused = runner.invoke(
        app, ["events", "list"], env={"API_BASE_URL": api_url, "ADMIN_API_KEY": "nope"}
    )
    assert refused.exit_code == 2


def test_events_list_shows_whole_ids_and_errors_on_one_line_each(api_url, database) -> None:
    """As ``jobs list``: an id cut with an ellipsis cannot be replayed or looked up (before,
    this table was 80 columns wide off a terminal and cut both the event id and the error)."""
    settings, _ = database
    business = make_business()
    event = CallStatusChanged(
        business_id=business.id,
        call_sid="CA" + uuid.uuid4().hex,
        call_status="ringing",
        occurred_at=utc_now(),
    )
    parking.park(event.to_json_bytes(), NotFoundError("the call belongs elsewhere"), event)
    try:
        listed = cli(api_url, settings, "list")
        assert listed.exit_code == 0, listed.output
        [row] = [line for line in listed.stdout.splitlines() if event.event_id in line]
        assert "call.status" in row and "NotFoundError: the call belongs elsewhere" in row
        assert event.call_sid not in listed.stdout
    finally:
        cli(api_url, settings, "replay")


def test_events_replay_json_is_the_apis_answer_alone_on_stdout(api_url, database) -> None:
    """Before, ``events replay`` had no ``--json``: a script parsed its lines of text."""
    settings, _ = database
    business = make_business()
    event = CallStatusChanged(
        business_id=business.id,
        call_sid="CA" + uuid.uuid4().hex,
        call_status="ringing",
        occurred_at=utc_now(),
    )
    parking.park(event.to_json_bytes(), NotFoundError("the cause, since fixed"), event)
    [parked] = json.loads(cli(api_url, settings, "list", "--json").stdout)["items"]

    replayed = cli(api_url, settings, "replay", "--id", str(parked["id"]), "--json")
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout) == {
        "replayed": [event.event_id],
        "failed": [],
        "remaining": 0,
    }
    again = cli(api_url, settings, "replay", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {"replayed": [], "failed": [], "remaining": 0}
