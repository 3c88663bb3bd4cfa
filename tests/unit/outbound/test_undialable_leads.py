"""A lead whose phone is not in E.164 form is never dialed: creating a run that selects it is a
422 naming it, and an item of an older run fails saying why; a number Twilio refuses (21211)
fails its item with Twilio's answer, not as a dial interrupted mid-way."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from switchboard.api.app import create_app
from switchboard.common.db import tenant_session
from switchboard.common.models import OutboundItem
from switchboard.common.settings import Settings
from switchboard.domain.leads.store import upsert_lead
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.dialing import NOT_E164
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.outbound.test_outbound_runs import leads_for


def _lead(business_id: int, phone: str) -> int:
    with tenant_session(business_id) as session:
        return upsert_lead(session, business_id, phone)[0].id


def test_a_run_selecting_leads_whose_phone_is_not_e164_is_refused_naming_them(
    embedded,
) -> None:
    business = make_business()
    good = leads_for(business.id, 2)
    bad = [_lead(business.id, phone) for phone in ("12345", "not-a-phone", "+1")]

    with pytest.raises(runs.RunInputError) as refused:
        runs.create_run(business.id, runs.NewRun(name="r", lead_ids=[*good, *bad]))

    assert refused.value.field == "lead_ids"
    assert f": {bad[0]}, {bad[1]}, {bad[2]};" in str(refused.value)
    assert runs.list_runs(business.id) == []


def test_creating_such_a_run_through_the_api_is_a_422(embedded: Settings) -> None:
    business = make_business()
    bad = _lead(business.id, "12345")

    with TestClient(create_app(embedded)) as client:
        response = client.post(
            "/api/v1/outbound-runs",
            json={"name": "r", "lead_ids": [bad]},
            headers={"Authorization": f"Bearer {business.api_key}"},
        )

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "lead_ids"]
    assert f"not a number in E.164 form (+15551234567): {bad};" in error["msg"]


def _start_with_phone(business_id: int, phone: str) -> tuple[int, int]:
    """A run of one lead whose item's phone is ``phone`` (as a run created before the check)."""
    run = runs.create_run(business_id, runs.NewRun(name="r", lead_ids=leads_for(business_id, 1)))
    (item,) = runs.list_items(business_id, run.run.id)
    with tenant_session(business_id) as session:
        session.execute(update(OutboundItem).where(OutboundItem.id == item.id).values(phone=phone))
    runs.start_run(business_id, run.run.id)
    return run.run.id, item.id


def _settled(business_id: int, run_id: int) -> OutboundItem:
    def failed() -> OutboundItem | None:
        (item,) = runs.list_items(business_id, run_id)
        return item if item.status == "failed" else None

    return wait_for(failed, timeout=20, what="the item to fail")


def test_an_item_whose_phone_is_not_e164_fails_without_a_call(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    run_id, _ = _start_with_phone(business.id, "12345")

    item = _settled(business.id, run_id)

    assert item.error == NOT_E164
    assert (item.calls_placed, len(fake_twilio.calls)) == (0, 0)


def test_a_number_twilio_refuses_fails_its_item_with_twilio_s_answer(
    outbound_env, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    fake_twilio.invalid_numbers.add("+15005550001")
    run_id, _ = _start_with_phone(business.id, "+15005550001")

    item = _settled(business.id, run_id)

    assert item.error is not None and item.error.startswith("Twilio refused the call:")
    assert "code=21211" in item.error and "interrupted" not in item.error
    assert (item.calls_placed, len(fake_twilio.calls)) == (0, 0)
