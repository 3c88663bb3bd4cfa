"""The database out of reach is a 503 with ``Retry-After``, never a 500 and never a hang: on
the REST API and on the WhatsApp webhook's fast path alike."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from switchboard.api.app import create_app
from switchboard.api.errors import RETRY_AFTER_S, database_unavailable
from switchboard.api.routes.whatsapp_webhook import PATH
from switchboard.common.settings import Settings
from tests.support.environment import configured
from tests.unit.api.test_dashboard_pages import _csrf

#: Nothing listens on port 1: every connection is refused at once, as while PostgreSQL is down.
NOWHERE = "postgresql://postgres@127.0.0.1:1/switchboard"


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[Settings]:
    with configured(database_url=NOWHERE, amqp_url="", var_dir=str(tmp_path)) as settings:
        yield settings


@pytest.fixture
def client(unreachable: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(unreachable), raise_server_exceptions=False) as test_client:
        yield test_client


def _is_unavailable(response: object) -> None:
    assert response.status_code == 503, response.text  # type: ignore[attr-defined]
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)  # type: ignore[attr-defined]
    assert "database is unavailable" in response.json()["detail"]  # type: ignore[attr-defined]
    assert response.json()["code"] == "unavailable"  # type: ignore[attr-defined]


def test_a_rest_request_gets_503_with_retry_after(client: TestClient) -> None:
    started = time.monotonic()
    response = client.get("/api/v1/leads", headers={"Authorization": "Bearer sbk_unknown"})
    _is_unavailable(response)
    assert time.monotonic() - started < 10


def test_the_whatsapp_webhook_gets_503_with_retry_after(
    client: TestClient, unreachable: Settings
) -> None:
    form = {
        "MessageSid": "SM" + "1" * 32,
        "From": "whatsapp:+15550001111",
        "To": "whatsapp:+15550002222",
    }
    signature = RequestValidator(unreachable.twilio_auth_token).compute_signature(
        unreachable.api_base_url + PATH, form
    )
    response = client.post(PATH, data=form, headers={"X-Twilio-Signature": signature})
    _is_unavailable(response)


def test_a_console_form_gets_a_503_page_with_retry_after(client: TestClient) -> None:
    # The login page needs no database; logging in looks the key up.
    token = _csrf(client.get("/dashboard/login").text)

    response = client.post("/dashboard/login", data={"api_key": "sbk_x", "csrf_token": token})

    assert response.status_code == 503 and response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert response.headers["content-type"].startswith("text/html")  # a console page
    assert "503 · Service Unavailable" in response.text
    assert "database is unavailable" in response.text


def test_only_errors_of_reaching_the_database_count() -> None:
    try:
        try:
            raise psycopg.OperationalError("connection refused")
        except psycopg.OperationalError as exc:
            raise RuntimeError("while loading the lead") from exc
    except RuntimeError as wrapped:
        assert database_unavailable(wrapped)
    assert not database_unavailable(RuntimeError("a bug"))
    assert not database_unavailable(psycopg.errors.UniqueViolation("duplicate key"))
