"""Each catalog entry's expiry policy, and how the age limit applies it."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import SkipMessage

from switchboard.common.jobs.broker import JobAgeLimit
from switchboard.common.jobs.catalog import CATALOG, ActorSpec
from switchboard.common.jobs.enqueue import prepare_job

#: Work that records what already happened or what a customer is owed: it never expires.
OWED = {
    "create_lead_job",
    "deferred_call_setup_job",
    "create_lead_from_call_job",
    "finalize_call_log_job",
    "finalize_call_session_job",
    "process_recording_job",
    "process_whatsapp_webhook_job",
    "send_whatsapp_message_job",
    "send_whatsapp_with_retry_job",
    "analyze_conversation_job",
    "auto_summary_whatsapp_session_job",
    "send_webhook_to_n8n_job",
    "send_webhook_with_retry_job",
    "outbound_call_status_job",
    "erase_person_job",
}
FIFTEEN_MINUTES_MS = 15 * 60 * 1000


def _message(spec: ActorSpec) -> Any:
    params = dict.fromkeys(spec.params or (), 1)
    return prepare_job(spec, business_id=1, **params).message


def test_owed_work_has_no_ttl_and_every_other_entry_says_how_long_it_may_wait() -> None:
    assert OWED <= set(CATALOG)
    for spec in CATALOG.values():
        if spec.name in OWED:
            assert spec.ttl_s is None, spec.name
            assert "max_age" not in _message(spec).options, spec.name
        else:
            assert spec.ttl_s is not None, f"{spec.name} declares no expiry policy"
            assert _message(spec).options["max_age"] == spec.ttl_s * 1000


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_fifteen_minutes_late_only_time_bound_work_expires(name: str) -> None:
    spec = CATALOG[name]
    limit = JobAgeLimit(offset_ms=FIFTEEN_MINUTES_MS)
    message = MessageProxy(_message(spec))
    if spec.ttl_s is None or spec.ttl_s * 1000 > FIFTEEN_MINUTES_MS:
        limit.before_process_message(StubBroker(), message)  # runs
        assert not message.failed
    else:
        with pytest.raises(SkipMessage):
            limit.before_process_message(StubBroker(), message)
        assert message.failed


def test_an_entry_s_policies_are_checked() -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        ActorSpec("bad_ttl_job", "q", ttl_s=0)
    with pytest.raises(ValueError, match="max_unfinished"):
        ActorSpec("bad_cap_job", "q", max_unfinished=0)
