"""``/api/v1/erasures``: a request is accepted as a queued job, shows its progress and never
its number; a bad number is a 422 naming ``phone``. While it is not done, no lead takes its
number or leaves it: a change to it or from it, or a lead created with it, is a 409 naming
``phone``, not the number; a CSV import with it is a 400 naming the row's line."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from switchboard.common.db import system_session, tenant_session
from switchboard.common.models import Erasure, Job
from switchboard.domain.erasures.requests import phone_hash
from tests.support.factories import make_business, unique_phone
from tests.support.log_capture import capture_logs
from tests.unit.api import rows
from tests.unit.api.rows import auth


def test_a_request_is_accepted_queued_and_shown_without_its_number(client) -> None:
    headers = auth(make_business().api_key)
    phone = unique_phone()

    response = client.post("/api/v1/erasures", json={"phone": phone}, headers=headers)

    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["status"], body["counts"], body["repeated"]) == ("pending", {}, False)
    assert phone not in response.text
    shown = client.get(f"/api/v1/erasures/{body['id']}", headers=headers)
    assert shown.status_code == 200 and shown.json()["status"] == "pending"
    assert phone not in shown.text
    listed = client.get("/api/v1/erasures", headers=headers).json()["items"]
    assert [item["id"] for item in listed] == [body["id"]]
    with system_session() as session:
        job = session.get(Job, body["job_id"])
        erasure = session.get(Erasure, body["id"])
    assert job is not None and job.actor_name == "erase_person_job"
    assert erasure is not None and erasure.phone == phone  # held for the job until done


def test_a_repeat_while_unfinished_answers_the_same_erasure_and_queues_nothing(client) -> None:
    business = make_business()
    headers = auth(business.api_key)
    phone = unique_phone()
    first = client.post("/api/v1/erasures", json={"phone": phone}, headers=headers).json()

    again = client.post("/api/v1/erasures", json={"phone": phone}, headers=headers)

    assert again.status_code == 202
    assert (again.json()["id"], again.json()["repeated"]) == (first["id"], True)
    with system_session() as session:
        jobs = session.execute(
            select(Job.id).where(
                Job.business_id == business.id, Job.actor_name == "erase_person_job"
            )
        ).all()
    assert len(jobs) == 1


def test_a_number_not_in_e164_is_a_422_naming_phone(client) -> None:
    headers = auth(make_business().api_key)
    for bad in ("555-1234", "15551234567", "", None, 15551234567):
        response = client.post("/api/v1/erasures", json={"phone": bad}, headers=headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", "phone"], bad
    missing = client.post("/api/v1/erasures", json={}, headers=headers)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "phone"]


def test_an_erasure_of_the_business_s_own_number_is_a_422_and_records_nothing(client) -> None:
    """Every call to the business and every conversation with it names its number: the
    erasure (202) would have erased them all, as if they were one person's."""
    business = make_business()
    headers = auth(business.api_key)

    response = client.post(
        "/api/v1/erasures", json={"phone": business.phone_number}, headers=headers
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "phone"], "own_number")
    assert "own number, not a person's" in error["msg"]
    assert client.get("/api/v1/erasures", headers=headers).json()["items"] == []
    with system_session() as session:
        assert session.execute(select(Job.id).where(Job.business_id == business.id)).first() is None


def test_an_erasure_needs_a_business_key(client) -> None:
    assert client.post("/api/v1/erasures", json={"phone": unique_phone()}).status_code == 401


def test_deleting_a_lead_still_takes_it_out_of_its_runs(client) -> None:
    """Outbound items outlive a lead only when an erasure deletes it (migration 0030)."""
    business = make_business()
    headers = auth(business.api_key)
    lead = rows.lead(business.id)
    run = client.post(
        "/api/v1/outbound-runs", json={"name": "Spring", "lead_ids": [lead.id]}, headers=headers
    ).json()

    assert client.delete(f"/api/v1/leads/{lead.id}", headers=headers).status_code == 204

    items = client.get(f"/api/v1/outbound-runs/{run['id']}/items", headers=headers).json()
    assert items["items"] == []


def test_the_database_holds_one_unfinished_erasure_per_number_and_business(client) -> None:
    """Not only the request path: a second unfinished row for one number is refused (migration
    0031); a done one, or another business's, is not in the way."""
    business, other = make_business(), make_business()
    phone = unique_phone()
    first = client.post("/api/v1/erasures", json={"phone": phone}, headers=auth(business.api_key))
    erasure_id = first.json()["id"]
    digest = phone_hash(business.id, phone)

    with pytest.raises(IntegrityError), tenant_session(business.id) as session:
        session.add(Erasure(business_id=business.id, phone=phone, phone_hash=digest))
        session.flush()

    with tenant_session(business.id) as session:
        done = session.get(Erasure, erasure_id)
        assert done is not None
        done.status, done.phone = "done", None
    again = client.post("/api/v1/erasures", json={"phone": phone}, headers=auth(business.api_key))
    assert (again.status_code, again.json()["repeated"]) == (202, False)
    assert again.json()["id"] != erasure_id
    theirs = client.post("/api/v1/erasures", json={"phone": phone}, headers=auth(other.api_key))
    assert (theirs.status_code, theirs.json()["repeated"]) == (202, False)


def _change(client, api_key: str, lead_id: int, **fields: object):
    return client.patch(f"/api/v1/leads/{lead_id}", json=fields, headers=auth(api_key))


def test_a_lead_s_number_cannot_change_to_one_being_erased_until_the_erasure_is_done(
    client,
) -> None:
    """A 409 naming ``phone`` and the erasure, never the number (in the answer or a log
    line); the lead keeps its number. Another business's erasure of the number is not in the
    way; once the erasure is done, the change goes through."""
    business, other = make_business(), make_business()
    lead, theirs = rows.lead(business.id), rows.lead(other.id)
    phone = unique_phone()
    erasure = client.post(
        "/api/v1/erasures", json={"phone": phone}, headers=auth(business.api_key)
    ).json()

    with capture_logs() as logs:
        refused = _change(client, business.api_key, lead.id, phone=phone, name="Dana")

    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("phone: the number is being erased")
    assert f"erasure {erasure['id']}" in detail
    assert phone not in refused.text and phone not in repr(logs)
    kept = client.get(f"/api/v1/leads/{lead.id}", headers=auth(business.api_key)).json()
    assert (kept["phone"], kept["name"]) == (lead.phone, None)  # nothing of the change
    assert _change(client, other.api_key, theirs.id, phone=phone).status_code == 200

    with tenant_session(business.id) as session:
        done = session.get(Erasure, erasure["id"])
        assert done is not None
        done.status, done.phone = "done", None
    changed = _change(client, business.api_key, lead.id, phone=phone)
    assert (changed.status_code, changed.json()["phone"]) == (200, phone)


def test_a_lead_s_number_still_changes_to_one_no_erasure_is_erasing(client) -> None:
    """A new number is taken; a change that keeps the number of a lead whose own number is
    being erased changes the rest (the erasure deletes the lead with the number anyway)."""
    business = make_business()
    lead, erased = rows.lead(business.id), rows.lead(business.id)
    client.post("/api/v1/erasures", json={"phone": erased.phone}, headers=auth(business.api_key))
    phone = unique_phone()

    changed = _change(client, business.api_key, lead.id, phone=phone)
    kept = _change(client, business.api_key, erased.id, phone=erased.phone, status="won")

    assert (changed.status_code, changed.json()["phone"]) == (200, phone)
    assert (kept.status_code, kept.json()["phone"], kept.json()["status"]) == (
        200,
        erased.phone,
        "won",
    )


def _erase(client, api_key: str, phone: str) -> int:
    response = client.post("/api/v1/erasures", json={"phone": phone}, headers=auth(api_key))
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def _done(business_id: int, erasure_id: int) -> None:
    with tenant_session(business_id) as session:
        done = session.get(Erasure, erasure_id)
        assert done is not None
        done.status, done.phone = "done", None


def _refused_naming(response, erasure_id: int, phone: str, logs: object) -> None:
    """A 409 naming ``phone`` and the erasure, never the number, in the answer or a log."""
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert detail.startswith("phone: the number is being erased"), detail
    assert f"erasure {erasure_id}" in detail
    assert phone not in response.text and phone not in repr(logs)


def test_a_lead_s_number_cannot_change_from_one_being_erased_its_other_fields_can(
    client,
) -> None:
    """The lead would leave the erasure's leads step (by number) with the person's name,
    email and notes: a 409, nothing of the change saved. A change of its other fields goes
    through; once the erasure is done, so does a new number."""
    business = make_business()
    lead = rows.lead(business.id, name="Dana", notes="called twice")
    erasure_id = _erase(client, business.api_key, lead.phone)
    new = unique_phone()

    with capture_logs() as logs:
        refused = _change(client, business.api_key, lead.id, phone=new, name="D.")

    _refused_naming(refused, erasure_id, lead.phone, logs)
    assert new not in refused.text
    kept = client.get(f"/api/v1/leads/{lead.id}", headers=auth(business.api_key)).json()
    assert (kept["phone"], kept["name"]) == (lead.phone, "Dana")  # nothing of the change
    renamed = _change(client, business.api_key, lead.id, name="D.", status="lost")
    assert (renamed.status_code, renamed.json()["name"], renamed.json()["phone"]) == (
        200,
        "D.",
        lead.phone,
    )

    _done(business.id, erasure_id)
    changed = _change(client, business.api_key, lead.id, phone=new)
    assert (changed.status_code, changed.json()["phone"]) == (200, new)


def test_a_lead_cannot_be_created_with_a_number_being_erased_until_the_erasure_is_done(
    client,
) -> None:
    """A 409 naming ``phone`` and the erasure, never the number; no lead is made. Another
    business's erasure of the number is not in the way; once the erasure is done, the lead is
    made (a new contact)."""
    business, other = make_business(), make_business()
    phone = unique_phone()
    erasure_id = _erase(client, business.api_key, phone)
    headers = auth(business.api_key)

    with capture_logs() as logs:
        refused = client.post(
            "/api/v1/leads", json={"phone": phone, "name": "Dana"}, headers=headers
        )

    _refused_naming(refused, erasure_id, phone, logs)
    assert client.get("/api/v1/leads", headers=headers).json()["items"] == []
    theirs = client.post("/api/v1/leads", json={"phone": phone}, headers=auth(other.api_key))
    assert theirs.status_code == 201, theirs.text

    _done(business.id, erasure_id)
    created = client.post("/api/v1/leads", json={"phone": phone}, headers=headers)
    assert (created.status_code, created.json()["phone"]) == (201, phone)


def test_a_csv_import_with_a_number_being_erased_names_its_line_and_imports_nothing(
    client,
) -> None:
    """As for any bad row (all rows or none): a 400 whose errors name each such row's line,
    ``phone`` and the erasure, never the number, whether the row would create a lead or
    update the person's; nothing of the file is imported. Once the erasure is done, the file
    imports."""
    business = make_business()
    headers = auth(business.api_key)
    person = rows.lead(business.id, name="Dana")
    phone, fine = unique_phone(), unique_phone()
    erased_lead_id = _erase(client, business.api_key, person.phone)
    erasure_id = _erase(client, business.api_key, phone)
    csv = f"phone,name\n{fine},Ann\n{phone},Dana\n{person.phone},Dana Smith\n"

    with capture_logs() as logs:
        response = client.post(
            "/api/v1/leads/import", files={"file": ("l.csv", csv)}, headers=headers
        )

    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["created"], body["updated"]) == (0, 0)
    errors = [(e["line"], e["field"], e["message"]) for e in body["errors"]]
    assert [(line, field) for line, field, _ in errors] == [(3, "phone"), (4, "phone")]
    assert f"erasure {erasure_id}" in errors[0][2] and f"erasure {erased_lead_id}" in errors[1][2]
    assert all(message.startswith("the number is being erased") for _, _, message in errors)
    assert phone not in response.text and person.phone not in response.text
    assert phone not in repr(logs) and person.phone not in repr(logs)
    leads = client.get("/api/v1/leads", headers=headers).json()["items"]
    assert [(lead["phone"], lead["name"]) for lead in leads] == [(person.phone, "Dana")]

    _done(business.id, erasure_id)
    _done(business.id, erased_lead_id)
    imported = client.post("/api/v1/leads/import", files={"file": ("l.csv", csv)}, headers=headers)
    assert (imported.status_code, imported.json()["created"]) == (200, 2), imported.text
