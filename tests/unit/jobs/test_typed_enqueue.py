"""The typed enqueue: a job is named by its catalog entry, and bad arguments fail at once."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import UnknownActorError, enqueue, enqueue_unique
from switchboard.common.jobs.catalog import (
    ANALYZE_CONVERSATION,
    CATALOG,
    FINALIZE_CALL_LOG,
    OUTBOUND_CALL_STATUS,
    SEND_PUSH_NOTIFICATION,
    SEND_WEBHOOK_TO_N8N,
    SEND_WEBHOOK_WITH_RETRY,
    SEND_WHATSAPP_WITH_RETRY,
    ActorSpec,
)
from switchboard.common.jobs.enqueue import MAX_TEXT, prepare_job
from switchboard.common.models import Job, OutboxMessage
from tests.support import actors
from tests.support.factories import make_business


def kwargs_of(payload: str) -> dict[str, object]:
    return dict(json.loads(payload)["kwargs"])


def test_queue_actor_and_limits_come_from_the_entry() -> None:
    job = prepare_job(SEND_WHATSAPP_WITH_RETRY, business_id=7, message_id=42)
    assert (job.message.queue_name, job.message.actor_name) == (
        "whatsapp_send",
        "send_whatsapp_with_retry_job",
    )
    assert job.max_retries == SEND_WHATSAPP_WITH_RETRY.max_retries
    assert job.message.options["time_limit"] == SEND_WHATSAPP_WITH_RETRY.timeout_s * 1000
    assert kwargs_of(job.payload) == {"business_id": 7, "message_id": 42}


def test_an_argument_the_entry_does_not_declare_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="send_whatsapp_with_retry_job.*unexpected.*msg_id"):
        prepare_job(SEND_WHATSAPP_WITH_RETRY, business_id=7, msg_id=42)


def test_a_missing_required_argument_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="missing argument.*item_id, call_sid"):
        prepare_job(OUTBOUND_CALL_STATUS, business_id=7, run_id=1, call_status="completed")


def test_optional_arguments_may_be_left_out() -> None:
    job = prepare_job(ANALYZE_CONVERSATION, business_id=7, call_log_id=3)
    assert kwargs_of(job.payload) == {"business_id": 7, "call_log_id": 3}


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ({"text": "hello"}, "got dict"),
        (["a", "b"], "got list"),
        ("x" * (MAX_TEXT + 1), f"got a {MAX_TEXT + 1}-character string"),
        (b"raw", "got bytes"),
    ],
)
def test_a_value_that_is_not_an_id_or_short_string_is_refused_by_name(
    value: object, what: str
) -> None:
    with pytest.raises(ValueError, match=f"'message_id' of send_whatsapp_with_retry_job.*{what}"):
        prepare_job(SEND_WHATSAPP_WITH_RETRY, business_id=7, message_id=value)


def test_undeclared_actors_still_get_their_values_checked() -> None:
    with pytest.raises(ValueError, match="'phone'"):
        prepare_job(actors.RECORD_LEAD, business_id=7, phone={"number": "+1"})
    job = prepare_job(actors.RECORD_LEAD, business_id=7, phone="+15550001")
    assert kwargs_of(job.payload)["phone"] == "+15550001"


def test_ids_numbers_short_strings_and_none_pass() -> None:
    job = prepare_job(
        FINALIZE_CALL_LOG,
        business_id=7,
        call_sid="CA" + "0" * 32,
        duration_s=12.5,
        run_id=None,
        status="x" * MAX_TEXT,
    )
    assert kwargs_of(job.payload)["duration_s"] == 12.5


TRANSCRIPT = [{"role": "caller", "text": "Hi, I'm Dana", "at": "2026-01-01T10:00:00+00:00"}]
WEBHOOK_BODY = {"type": "call.ended", "data": {"transcript": TRANSCRIPT}}


@pytest.mark.parametrize(
    ("spec", "kwargs", "refused"),
    [
        (FINALIZE_CALL_LOG, {"call_sid": "CA1", "status": "completed"}, "transcript"),
        (SEND_WEBHOOK_WITH_RETRY, {"delivery_id": 1}, "payload"),
        (SEND_WEBHOOK_TO_N8N, {"delivery_id": 1}, "payload"),
        (SEND_PUSH_NOTIFICATION, {"subscription_id": 1, "reminder_id": 1}, "payload"),
    ],
)
def test_no_entry_takes_a_transcript_a_webhook_body_or_a_notification(
    spec: ActorSpec, kwargs: dict[str, object], refused: str
) -> None:
    prepare_job(spec, business_id=7, **kwargs)
    with pytest.raises(TypeError, match=f"unexpected argument.*{refused}"):
        prepare_job(spec, business_id=7, **kwargs, **{refused: WEBHOOK_BODY})
    for name in kwargs:  # nor in the place of one of its ids
        for document in (TRANSCRIPT, WEBHOOK_BODY, "x" * (MAX_TEXT + 1)):
            with pytest.raises(ValueError, match=f"{name!r} of {spec.name}"):
                prepare_job(spec, business_id=7, **{**kwargs, name: document})


@pytest.mark.parametrize("spec", [CATALOG[name] for name in sorted(CATALOG)], ids=sorted(CATALOG))
def test_no_argument_of_any_entry_may_carry_a_document(spec: ActorSpec) -> None:
    ids = dict.fromkeys(spec.params or (), 1)
    for name in spec.accepts() or ():
        with pytest.raises(ValueError, match=f"{name!r} of {spec.name}"):
            prepare_job(spec, business_id=7, **{**ids, name: WEBHOOK_BODY})


def test_a_run_id_argument_also_files_the_job_under_its_run() -> None:
    job = prepare_job(
        OUTBOUND_CALL_STATUS,
        business_id=7,
        run_id=5,
        item_id=6,
        call_sid="CA1",
        call_status="completed",
    )
    assert job.run_id == 5 and job.ledger_row()["run_id"] == 5
    assert kwargs_of(job.payload)["run_id"] == 5


def test_a_copy_of_an_entry_with_other_settings_is_refused() -> None:
    with pytest.raises(UnknownActorError, match="differs from its entry"):
        prepare_job(
            replace(SEND_WHATSAPP_WITH_RETRY, queue="whatsapp"), business_id=7, message_id=1
        )


def test_an_actor_name_is_not_enough() -> None:
    with pytest.raises(TypeError, match="takes a catalog entry"):
        prepare_job("send_whatsapp_with_retry_job", business_id=7, message_id=1)  # type: ignore[arg-type]


def test_entries_cannot_use_enqueue_s_own_keywords_as_arguments() -> None:
    with pytest.raises(ValueError, match="reserved"):
        ActorSpec("clash_job", "q", params=("key",))


def test_every_entry_is_a_named_constant_of_the_catalog_module() -> None:
    from switchboard.common.jobs import catalog

    constants = {
        value.name: name for name, value in vars(catalog).items() if isinstance(value, ActorSpec)
    }
    assert set(constants) == set(CATALOG)
    assert all(constants[name] == name.removesuffix("_job").upper() for name in CATALOG)


def test_enqueue_writes_the_entry_s_queue_to_the_ledger_and_the_outbox(embedded) -> None:
    business = make_business()
    with tenant_session(business.id):
        ref = enqueue(SEND_WHATSAPP_WITH_RETRY, business_id=business.id, message_id=1)
    assert (ref.queue_name, ref.actor_name) == ("whatsapp_send", "send_whatsapp_with_retry_job")
    with system_session() as session:
        job = session.get(Job, ref.job_id)
        assert job is not None and job.queue_name == "whatsapp_send"
        # The outbox row may already be published and gone; if present it names the queue.
        queued = session.execute(
            select(OutboxMessage.queue_name).where(OutboxMessage.job_id == ref.job_id)
        ).scalar_one_or_none()
        assert queued in (None, "whatsapp_send")


def test_enqueue_unique_takes_the_key_by_keyword(embedded) -> None:
    business = make_business()
    first = enqueue_unique(
        ANALYZE_CONVERSATION, key="analyze:1", business_id=business.id, conversation_id=1
    )
    again = enqueue_unique(
        ANALYZE_CONVERSATION, key="analyze:1", business_id=business.id, conversation_id=1
    )
    assert first.created and not again.created and again.job_id == first.job_id
    with pytest.raises(ValueError, match="key"):
        enqueue_unique(ANALYZE_CONVERSATION, key="", business_id=business.id)
