"""``erase_person_job``: everything held about one number goes, in its own business only, and
a job repeated from any step finishes the rest with the counts right."""

from __future__ import annotations

import dramatiq

from switchboard.common.bootstrap import adapters
from switchboard.common.db import tenant_session
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.jobs.service import retry_job
from switchboard.common.models import (
    Erasure,
    IdempotencyKey,
    Job,
    Lead,
    OutboundItem,
    WebhookDelivery,
)
from switchboard.common.settings import get_settings
from switchboard.domain.erasures import ERASED_KINDS, request_erasure, run_erasure
from switchboard.domain.erasures.job import ERASED_ITEM
from switchboard.domain.erasures.requests import phone_hash
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.waiting import wait_for
from tests.unit.worker.erasure_world import (
    ERASED,
    erasure_row,
    parked_left,
    person_world,
    request_for,
    traces,
)
from tests.unit.worker.jobs import finished, run
from tests.unit.worker.world import snapshot


def test_an_erasure_leaves_nothing_of_the_person_and_another_business_s_same_number_untouched(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    storage = make_recording_storage(get_settings())
    person = person_world(fake_twilio, storage)
    same_number_elsewhere = person_world(fake_twilio, storage, phone=person.phone)
    theirs_before = snapshot(same_number_elsewhere.business_id)
    their_parked = parked_left(same_number_elsewhere.business_id)
    bid = person.business_id

    job = run("erase_person_job", business_id=bid, erasure_id=person.world.erasure_id)

    assert job.status == "succeeded", job.last_error
    erasure = erasure_row(bid, person.world.erasure_id)
    assert (erasure.status, erasure.counts) == ("done", ERASED)
    assert tuple(ERASED) == ERASED_KINDS  # every kind counted, zero or more
    assert erasure.phone is None and erasure.finished_at is not None
    assert erasure.phone_hash == phone_hash(bid, person.phone) != person.phone
    assert traces(bid, person.phone, person.world.call_sid, "Dana") == []
    assert all(fake_twilio.recordings[s].deleted for s in person.recording_sids)
    assert not any(storage.exists(key) for key in person.audio_keys)
    with tenant_session(bid) as session:
        item = session.get(OutboundItem, person.item_id)
        assert item is not None
        assert (item.phone, item.lead_id, item.status, item.error) == (
            "",
            None,
            "cancelled",
            ERASED_ITEM,
        )
        assert session.get(Lead, person.kept_lead_id) is not None
        assert session.get(WebhookDelivery, person.kept_delivery_id) is not None
        # A blanked answer: a repeat of its request is told it was carried out, not redone.
        for answer_id in person.answer_ids:
            blanked = session.get(IdempotencyKey, answer_id)
            assert blanked is not None
            assert (blanked.status_code, blanked.body, blanked.work_committed) == (None, None, True)
        kept_answer = session.get(IdempotencyKey, person.kept_answer_id)
        assert kept_answer is not None and kept_answer.status_code == 201
    assert parked_left(bid) == [person.kept_parked_id]
    # The other business's rows with the same number, and its recordings, are as they were.
    assert snapshot(same_number_elsewhere.business_id) == theirs_before
    assert parked_left(same_number_elsewhere.business_id) == their_parked
    assert not any(fake_twilio.recordings[s].deleted for s in same_number_elsewhere.recording_sids)
    assert all(storage.exists(key) for key in same_number_elsewhere.audio_keys)


def test_every_step_repeated_finds_nothing_more_and_the_counts_stay(
    fake_twilio: FakeTwilioServer, jobs_env
) -> None:
    """A redelivery after any step: run the job again from a running erasure that did part of
    it (here: all of it, with the number still held, as after a death before the last
    commit). Recordings Twilio no longer has (404) count once, as done."""
    storage = make_recording_storage(jobs_env)
    person = person_world(fake_twilio, storage)
    bid, erasure_id = person.business_id, person.world.erasure_id
    fake_twilio.recordings[person.recording_sids[0]].deleted = True  # gone at Twilio already

    assert run_erasure(bid, erasure_id, adapters()) is True
    with tenant_session(bid) as session:  # as if the worker died before marking it done
        erasure = session.get(Erasure, erasure_id)
        assert erasure is not None
        erasure.status, erasure.phone = "running", person.phone
    assert run_erasure(bid, erasure_id, adapters()) is True

    assert erasure_row(bid, erasure_id).counts == ERASED
    assert run_erasure(bid, erasure_id, adapters()) is False  # done: nothing to do


def test_a_request_queues_a_job_whose_payload_names_only_the_erasure(
    fake_twilio: FakeTwilioServer, jobs_env
) -> None:
    person = person_world(fake_twilio, make_recording_storage(jobs_env))
    bid = person.business_id

    erasure = request_for(person)

    assert erasure.job_id is not None
    with tenant_session(bid) as session:
        job = session.get(Job, erasure.job_id)
    assert job is not None and job.actor_name == "erase_person_job"
    assert f'"erasure_id": {erasure.id}' in job.message.replace('":', '": ')
    assert person.phone not in job.message and person.phone[1:] not in job.message
    again = request_erasure(bid, person.phone)
    assert again.repeated is True and again.erasure.id == erasure.id


def test_an_erasure_whose_job_failed_is_finished_by_retrying_the_job(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    person = person_world(fake_twilio, make_recording_storage(get_settings()))
    bid = person.business_id
    fake_twilio.fail_next("delete_recording", status=400)  # refused: no retry of its own
    erasure = request_for(person)
    assert erasure.job_id is not None

    failed = finished(bid, erasure.job_id)

    assert failed.status in ("failed", "dead"), failed.last_error
    stuck = erasure_row(bid, erasure.id)
    assert stuck.status == "running" and stuck.phone == person.phone
    retry_job(bid, erasure.job_id)
    wait_for(
        lambda: erasure_row(bid, erasure.id).status == "done",
        timeout=20,
        what="the retried erasure to finish",
    )
    assert erasure_row(bid, erasure.id).counts == ERASED
    assert traces(bid, person.phone, person.world.call_sid, "Dana") == []
