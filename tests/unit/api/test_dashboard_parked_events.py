"""Parked call events on the dashboard, the admin API and /metrics: type, id, masked call sid
and error; never the body, a full number or what was said."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from switchboard.api.events import parking
from switchboard.common.errors import NotFoundError
from switchboard.common.events import CallEnded, TranscriptTurn, utc_now
from tests.support.factories import TestBusiness, make_business
from tests.unit.api.test_dashboard_pages import log_in

SAID = "My card is 4111 1111 1111 1111"


def _parked_call_ended(business: TestBusiness) -> CallEnded:
    started = utc_now() - timedelta(minutes=1)
    event = CallEnded(
        business_id=business.id,
        call_sid="CA" + uuid.uuid4().hex,
        stream_sid="MZ" + uuid.uuid4().hex,
        direction="inbound",
        from_number="+15557654321",
        to_number=business.phone_number,
        started_at=started,
        ended_at=utc_now(),
        duration_s=60.0,
        end_reason="caller_hung_up",
        transcript=[TranscriptTurn(role="caller", text=SAID, at=started)],
    )
    error = NotFoundError(
        f"call {event.call_sid} from +15557654321 (kim@example.com) not found for business 1"
    )
    parking.park(event.to_json_bytes(), error, event)
    return event


def test_the_dashboard_lists_the_business_s_parked_events_without_personal_data(
    client: TestClient,
) -> None:
    business, other = make_business("Acme Dental"), make_business("Other")
    ours = _parked_call_ended(business)
    theirs = _parked_call_ended(other)
    log_in(client, business)

    page = client.get("/dashboard/events")

    assert page.status_code == 200
    assert ours.event_id in page.text and "call.ended" in page.text
    assert f"CA…{ours.call_sid[-4:]}" in page.text and "NotFoundError" in page.text
    assert "1 parked" in page.text
    for secret in (ours.call_sid, "+15557654321", "kim@example.com", SAID, theirs.event_id):
        assert secret not in page.text
    assert "+…21" in page.text and "***@***" in page.text
    assert 'href="/dashboard/events" aria-current="page"' in page.text


def test_the_admin_api_and_metrics_show_parked_events_and_only_the_admin_may_see_them(
    client: TestClient, admin: dict[str, str]
) -> None:
    business = make_business()
    event = _parked_call_ended(business)
    parking.park(b"not json", ValueError("unreadable"))
    parking.park(b"not json", ValueError("unreadable, again"))  # the same body: one row

    listed = client.get("/api/v1/admin/parked-events", headers=admin)

    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 2
    [unreadable, call_ended] = body["items"]
    assert (unreadable["event_type"], unreadable["failures"]) == (None, 2)
    assert unreadable["error"] == "ValueError: unreadable, again"
    assert call_ended["event_id"] == event.event_id
    assert call_ended["call_sid"] == f"CA…{event.call_sid[-4:]}"
    assert SAID not in listed.text and event.call_sid not in listed.text
    metrics = client.get("/metrics").text
    assert 'switchboard_parked_events{type="call.ended"} 1.0' in metrics
    assert 'switchboard_parked_events{type="unreadable"} 1.0' in metrics
    assert 'switchboard_parked_events{type="call.status"} 0.0' in metrics
    business_key = {"Authorization": f"Bearer {business.api_key}"}
    assert client.get("/api/v1/admin/parked-events", headers=business_key).status_code == 403


def test_replaying_an_unreadable_event_keeps_it_parked_with_the_new_error(
    client: TestClient, admin: dict[str, str]
) -> None:
    parking.park(b'{"type": "call.ended"}', ValueError("first"))

    replayed = client.post("/api/v1/admin/parked-events/replay", headers=admin)

    assert replayed.status_code == 200
    result = replayed.json()
    assert result["replayed"] == [] and result["remaining"] == 1
    [(failure)] = result["failed"]
    assert failure["error"].startswith("ValidationError: call.ended.")
    assert client.post("/api/v1/admin/parked-events/999/replay", headers=admin).status_code == 404


def test_errors_shown_to_operators_carry_no_sql_parameters_or_input_values() -> None:
    from pydantic import ValidationError
    from sqlalchemy.exc import IntegrityError

    from switchboard.common.events import parse_event

    try:
        parse_event(b'{"type": "call.ended", "business_id": 1, "from_number": "+15551234567"}')
    except ValidationError as exc:
        described = parking.describe_error(exc)
    assert "+15551234567" not in described and described.startswith("ValidationError: ")
    orig = Exception("duplicate key\nDETAIL:  Key (phone)=(+15551234567) already exists.")
    error = IntegrityError("INSERT INTO leads VALUES (%(phone)s)", {"phone": "+15551234567"}, orig)
    assert parking.describe_error(error) == "IntegrityError (Exception): duplicate key"
    assert parking.mask_call_sid("CA" + "0" * 28 + "beef") == "CA…beef"


def test_an_error_s_control_characters_are_replaced_so_the_row_can_hold_it() -> None:
    described = parking.describe_error(NotFoundError("call CA1\x00\x1b[2J not found"))

    assert described == "NotFoundError: call CA1\ufffd\ufffd[2J not found"
