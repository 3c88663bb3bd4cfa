"""Idempotency-Key on the API's POSTs (docs/api.md, ``switchboard.api.idempotency``).

Embedded mode (SQLite) here; ``tests/integration/api/test_idempotency_on_postgres.py`` runs
them again on PostgreSQL with row-level security, and races two requests for real there.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from starlette.requests import Request
from starlette.types import Message

from switchboard.api import idempotency
from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.errors import ConflictError
from switchboard.common.models import (
    IdempotencyKey,
    Job,
    Lead,
    OutboundRun,
    WhatsAppConversation,
    WhatsAppMessage,
)
from tests.support.factories import make_business, unique_phone
from tests.unit.api import rows
from tests.unit.api.rows import auth


def _keyed(api_key: str, key: str | bytes) -> dict[str, str | bytes]:
    return {**auth(api_key), "Idempotency-Key": key, "Content-Type": "application/json"}


def _request_hash(path: str, body: bytes) -> str:
    """The hash the API gives a JSON POST of ``body`` to ``path``."""

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    return asyncio.run(idempotency._request_hash(Request(scope, receive)))


def _count(business_id: int, model: Any, *where: Any) -> int:
    with tenant_session(business_id) as session:
        query = select(func.count()).select_from(model).where(model.business_id == business_id)
        return int(session.execute(query.where(*where)).scalar_one())


def _key_row(business_id: int, key: str) -> IdempotencyKey | None:
    with tenant_session(business_id) as session:
        return session.execute(
            select(IdempotencyKey).where(
                IdempotencyKey.business_id == business_id, IdempotencyKey.key == key
            )
        ).scalar_one_or_none()


def test_a_repeated_send_answers_the_same_bytes_and_sends_once(client) -> None:
    business = make_business()
    conversation = rows.written_conversation(business.id)
    path = f"/api/v1/conversations/{conversation.id}/messages"
    body = b'{"body": "See you at nine."}'

    first = client.post(path, content=body, headers=_keyed(business.api_key, "send-1"))
    again = client.post(path, content=body, headers=_keyed(business.api_key, "send-1"))

    assert first.status_code == again.status_code == 202
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(business.id, WhatsAppMessage, WhatsAppMessage.direction == "out") == 1
    assert _count(business.id, Job, Job.actor_name == "send_whatsapp_message_job") == 1


def test_without_the_header_every_request_is_carried_out(client) -> None:
    business = make_business()
    conversation = rows.written_conversation(business.id)
    path = f"/api/v1/conversations/{conversation.id}/messages"
    for _ in range(2):
        response = client.post(path, json={"body": "Twice."}, headers=auth(business.api_key))
        assert response.status_code == 202
    assert _count(business.id, WhatsAppMessage, WhatsAppMessage.direction == "out") == 2
    assert _count(business.id, IdempotencyKey) == 0


def test_the_same_key_with_another_body_is_a_422_naming_the_header(client) -> None:
    business = make_business()
    conversation = rows.written_conversation(business.id)
    path = f"/api/v1/conversations/{conversation.id}/messages"
    headers = _keyed(business.api_key, "send-2")
    assert client.post(path, content=b'{"body": "One."}', headers=headers).status_code == 202

    refused = client.post(path, content=b'{"body": "Two."}', headers=headers)

    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert refused.json()["code"] == "validation_error"
    assert (error["loc"], error["type"]) == (
        ["header", "Idempotency-Key"],
        "idempotency_key_reused",
    )
    assert _count(business.id, WhatsAppMessage, WhatsAppMessage.direction == "out") == 1


def test_the_same_key_on_another_path_is_refused_too(client) -> None:
    business = make_business()
    headers = _keyed(business.api_key, "lead-or-reminder")
    lead = client.post("/api/v1/leads", json={"phone": unique_phone()}, headers=headers)
    assert lead.status_code == 201
    reminder = {"title": "Call back", "due_at": "2031-01-01T09:00:00Z"}
    refused = client.post("/api/v1/reminders", json=reminder, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_a_repeat_while_the_first_is_in_progress_is_a_409(client) -> None:
    business = make_business()
    conversation = rows.written_conversation(business.id)
    path = f"/api/v1/conversations/{conversation.id}/messages"
    body = b'{"body": "Still going?"}'
    claim = idempotency._claim(business.id, "busy", _request_hash(path, body))
    assert isinstance(claim, idempotency.Claim)  # the first request, still running

    repeat = client.post(path, content=body, headers=_keyed(business.api_key, "busy"))

    assert repeat.status_code == 409
    assert repeat.json()["code"] == "conflict" and "in progress" in repeat.json()["detail"]
    assert repeat.headers["Retry-After"] == "1"
    assert _count(business.id, WhatsAppMessage, WhatsAppMessage.direction == "out") == 0
    assert _key_row(business.id, "busy") is not None  # the first still holds it


def test_a_key_whose_holder_died_is_taken_over_after_its_lease(client) -> None:
    business = make_business()
    conversation = rows.written_conversation(business.id)
    path = f"/api/v1/conversations/{conversation.id}/messages"
    body = b'{"body": "After the crash."}'
    dead = idempotency._claim(business.id, "crashed", _request_hash(path, body))
    assert isinstance(dead, idempotency.Claim)
    with tenant_session(business.id) as session:  # its lease ran out, no work committed
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == dead.row_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )

    retried = client.post(path, content=body, headers=_keyed(business.api_key, "crashed"))
    again = client.post(path, content=body, headers=_keyed(business.api_key, "crashed"))

    assert retried.status_code == again.status_code == 202
    assert again.content == retried.content
    assert _count(business.id, WhatsAppMessage, WhatsAppMessage.direction == "out") == 1


def test_work_committed_but_its_answer_lost_is_never_done_again(client) -> None:
    business = make_business()
    conversation = rows.written_conversation(business.id)
    path = f"/api/v1/conversations/{conversation.id}/messages"
    body = b'{"body": "Sent before the crash."}'
    dead = idempotency._claim(business.id, "lost", _request_hash(path, body))
    assert isinstance(dead, idempotency.Claim)
    with tenant_session(business.id) as session:  # committed its work, died before answering
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == dead.row_id)
            .values(work_committed=True, lease_until=utcnow() - timedelta(hours=1))
        )

    repeat = client.post(path, content=body, headers=_keyed(business.api_key, "lost"))

    assert repeat.status_code == 409 and "not kept" in repeat.json()["detail"]
    assert _count(business.id, WhatsAppMessage, WhatsAppMessage.direction == "out") == 0


def _plain_sha256(path: str, body: bytes) -> str:
    """A plain SHA-256 of a JSON POST, as the stored hash was before it was keyed."""
    digest = hashlib.sha256()
    for part in (b"POST", path.encode(), b""):
        digest.update(b"%d:%s" % (len(part), part))
    digest.update(body)
    return digest.hexdigest()


def test_the_kept_request_hash_is_keyed_and_cannot_confirm_a_guessed_number(client) -> None:
    """An erasure's body names only the number: a plain hash of it, kept for a day, would
    give the number back to anyone hashing every number there is."""
    business = make_business()
    path, phone = "/api/v1/erasures", unique_phone()
    body = b'{"phone": "%s"}' % phone.encode()

    first = client.post(path, content=body, headers=_keyed(business.api_key, "erase-1"))
    again = client.post(path, content=body, headers=_keyed(business.api_key, "erase-1"))

    assert first.status_code == again.status_code == 202
    assert again.headers[idempotency.REPLAYED_HEADER] == "true"
    row = _key_row(business.id, "erase-1")
    assert row is not None and len(row.request_hash) == 64
    assert row.request_hash != _plain_sha256(path, body)
    assert phone not in row.request_hash


def test_work_whose_key_was_taken_over_rolls_back(client) -> None:
    """The holder's work commits only while the key is still its own: a slow request whose
    lease ran out and whose key a repeat took over writes nothing."""
    business = make_business()
    slow = idempotency._claim(business.id, "slow", "0" * 64)
    assert isinstance(slow, idempotency.Claim)
    with tenant_session(business.id) as session:  # a repeat took it over
        session.execute(
            update(IdempotencyKey).where(IdempotencyKey.id == slow.row_id).values(token="other")
        )
    keyed = idempotency._Keyed(claim=slow)
    reset = idempotency._current.set(keyed)
    try:
        with pytest.raises(ConflictError, match="took its Idempotency-Key over"):
            rows.conversation(business.id)
    finally:
        idempotency._current.reset(reset)
    assert _count(business.id, WhatsAppConversation) == 0 and not slow.work_committed


def test_the_work_s_commit_marks_the_key_in_its_own_transaction(client) -> None:
    business = make_business()
    phone = unique_phone()
    created = client.post(
        "/api/v1/leads", json={"phone": phone}, headers=_keyed(business.api_key, "lead-1")
    )
    row = _key_row(business.id, "lead-1")
    assert row is not None and row.work_committed
    assert (row.status_code, row.body) == (201, created.content)


def test_a_refusal_that_changed_nothing_frees_the_key(client) -> None:
    business = make_business()
    headers = _keyed(business.api_key, "retry-me")
    missing = client.post(
        "/api/v1/conversations/999999/messages", json={"body": "Hi"}, headers=headers
    )
    assert missing.status_code == 404
    invalid = client.post("/api/v1/leads", json={"phone": "not a phone"}, headers=headers)
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"][0] == "body"
    assert _key_row(business.id, "retry-me") is None
    fixed = client.post("/api/v1/leads", json={"phone": unique_phone()}, headers=headers)
    assert fixed.status_code == 201


def test_a_duplicate_answered_409_is_not_kept(client) -> None:
    business = make_business()
    phone = unique_phone()
    client.post("/api/v1/leads", json={"phone": phone}, headers=auth(business.api_key))
    duplicate = client.post(
        "/api/v1/leads", json={"phone": phone}, headers=_keyed(business.api_key, "dup")
    )
    assert duplicate.status_code == 409 and _key_row(business.id, "dup") is None


def test_another_business_s_same_key_is_its_own(client) -> None:
    one, two = make_business(), make_business()
    phones = unique_phone(), unique_phone()
    first = client.post(
        "/api/v1/leads", json={"phone": phones[0]}, headers=_keyed(one.api_key, "shared")
    )
    second = client.post(
        "/api/v1/leads", json={"phone": phones[1]}, headers=_keyed(two.api_key, "shared")
    )
    same_body = client.post(
        "/api/v1/leads", json={"phone": phones[0]}, headers=_keyed(two.api_key, "shared-2")
    )
    assert (first.status_code, second.status_code, same_body.status_code) == (201, 201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert _count(one.id, Lead) == 1 and _count(two.id, Lead) == 2


def test_outbound_runs_are_created_and_started_once(client) -> None:
    business = make_business()
    lead = rows.lead(business.id)
    body = {"name": "Check-ups", "lead_ids": [lead.id]}
    created = [
        client.post("/api/v1/outbound-runs", json=body, headers=_keyed(business.api_key, "run"))
        for _ in range(2)
    ]
    assert [r.status_code for r in created] == [201, 201]
    assert created[0].content == created[1].content
    assert _count(business.id, OutboundRun) == 1
    start = f"/api/v1/outbound-runs/{created[0].json()['id']}/start"
    started = [client.post(start, headers=_keyed(business.api_key, "go")) for _ in range(2)]
    assert [r.status_code for r in started] == [200, 200]  # not 409: the repeat is the first's
    assert started[0].content == started[1].content
    assert client.post(start, headers=auth(business.api_key)).status_code == 409


@pytest.mark.parametrize(
    "key",
    ["x" * 256, "", "tab\there", b"cl\xc3\xa9", b"cl\xe9"],
    ids=["too-long", "empty", "control-character", "utf-8", "latin-1"],
)
def test_a_key_that_is_not_printable_ascii_up_to_255_is_a_422(client, key: str | bytes) -> None:
    business = make_business()
    response = client.post(
        "/api/v1/leads", json={"phone": unique_phone()}, headers=_keyed(business.api_key, key)
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert _count(business.id, Lead) == 0


def test_a_key_of_255_printable_characters_is_accepted(client) -> None:
    business = make_business()
    key = "".join(chr(c) for c in range(0x20, 0x7F)) * 3  # 285: every printable, spaces too
    response = client.post(
        "/api/v1/leads",
        json={"phone": unique_phone()},
        headers=_keyed(business.api_key, "k" + key[:254]),
    )
    assert response.status_code == 201


def test_keys_older_than_a_day_are_deleted_and_free_again(client) -> None:
    business = make_business()
    headers = _keyed(business.api_key, "yesterday")
    client.post("/api/v1/leads", json={"phone": unique_phone()}, headers=headers)
    with tenant_session(business.id) as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.business_id == business.id)
            .values(created_at=utcnow() - timedelta(hours=24, seconds=1))
        )
    again = client.post("/api/v1/leads", json={"phone": unique_phone()}, headers=headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert _count(business.id, Lead) == 2 and _count(business.id, IdempotencyKey) == 1


def test_a_repeated_csv_import_is_recognised_whatever_its_multipart_boundary(client) -> None:
    business = make_business()
    csv = f"phone,name\n{unique_phone()},Ada\n".encode()
    headers = {**auth(business.api_key), "Idempotency-Key": "import-1"}

    def send(data: bytes, boundary: str) -> Any:
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="leads.csv"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        content_type = f"multipart/form-data; boundary={boundary}"
        return client.post(
            "/api/v1/leads/import", content=body, headers={**headers, "Content-Type": content_type}
        )

    first, again = send(csv, "first-boundary"), send(csv, "another-boundary")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert send(csv + b"+15550001111,Bob\n", "first-boundary").status_code == 422
    assert _count(business.id, Lead) == 1


def test_the_header_is_documented_on_the_post_operations(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    send = paths["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= next(
        p for p in send["parameters"] if p["name"] == "Idempotency-Key"
    ).items()
    listed = paths["/api/v1/conversations/{conversation_id}/messages"]["get"]
    assert all(p["name"] != "Idempotency-Key" for p in listed.get("parameters", []))


def test_two_idempotency_keys_on_one_request_are_a_422_and_nothing_is_done(client) -> None:
    business = make_business()
    phone = unique_phone()
    headers = [
        *auth(business.api_key).items(),
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "client-key"),
        ("Idempotency-Key", "proxy-key"),
    ]

    refused = client.post("/api/v1/leads", json={"phone": phone}, headers=headers)

    assert refused.status_code == 422
    assert refused.json() == {
        "code": "validation_error",
        "detail": [
            {
                "loc": ["header", "Idempotency-Key"],
                "msg": "given more than once (2 times): send it once",
                "type": "repeated_parameter",
            }
        ],
    }
    assert _count(business.id, Lead) == 0
    assert (
        _key_row(business.id, "client-key") is None and _key_row(business.id, "proxy-key") is None
    )
    # Once, either one is taken: the client's key was not spent by the refusal.
    taken = client.post(
        "/api/v1/leads", json={"phone": phone}, headers=_keyed(business.api_key, "client-key")
    )
    assert taken.status_code == 201
