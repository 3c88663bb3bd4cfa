"""An erasure racing a recording job's attach, on PostgreSQL: they serialize on the call's lock
(``erasures/erased_calls.py``), so the erased voice never comes back.

The interleavings are held with database locks a test connection takes and lets go of, each
step awaited on ``pg_stat_activity`` (a backend waiting on a lock), never slept for.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select, text

from switchboard.common.bootstrap import Adapters
from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.models import CallLog, ErasedCall, Recording, WebhookDelivery
from switchboard.common.settings import Settings
from switchboard.domain.calls.recordings import process_recording
from switchboard.domain.erasures import run_erasure
from switchboard.domain.erasures.erased_calls import call_sid_hash
from tests.fakes.openai_http import FakeOpenAIServer, fake_openai
from tests.fakes.twilio_rest import FakeTwilioServer, fake_twilio
from tests.support.environment import configured
from tests.support.waiting import wait_for
from tests.unit.worker.conftest import fake_service_env
from tests.unit.worker.erasure_world import Person, late_recording, person_world, traces
from tests.unit.worker.world import add, sid

pytestmark = pytest.mark.integration

__all__ = ["fake_openai", "fake_twilio"]


@pytest.fixture
def env(
    pg_url: str, tmp_path: Path, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> Iterator[Settings]:
    """PostgreSQL, the outside world faked."""
    extra = fake_service_env(fake_twilio, fake_openai)
    with configured(database_url=pg_url, amqp_url="", var_dir=str(tmp_path), **extra) as settings:
        yield settings


def _waiting(statement: str) -> bool:
    """Whether a backend of this database waits on a lock (a row's, an insert's or an
    advisory one) in a statement ``LIKE statement``."""
    with system_session() as session:
        waiting = session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE :statement"
            ),
            {"statement": statement},
        ).scalar_one()
    return int(waiting) > 0


def _until_waiting(statement: str, *pending: Future[object], what: str) -> None:
    """Until a backend waits on a lock in ``statement``; fails at once if one of ``pending``
    finished instead (it did not wait where it should have)."""
    wait_for(lambda: any(f.done() for f in pending) or _waiting(statement), what=what)
    finished = [f for f in pending if f.done()]
    assert not finished, f"finished instead of waiting: {[f.result() for f in finished]}"


#: The statements the interleavings wait in.
_DELETE_DELIVERIES = "DELETE FROM webhook_deliveries%"
_INSERT_ERASED_CALL = "INSERT INTO erased_calls%"
_CALL_LOCK = "SELECT pg_advisory_xact_lock%"
_LOCK_RECORDING = "SELECT recordings.%FOR UPDATE%"


def _new_call(person: Person) -> str:
    """A call of the person's that began after the erasure started (not in its first look)."""
    call_sid = sid("CA")
    add(
        person.business_id,
        CallLog(business_id=person.business_id, call_sid=call_sid, from_number=person.phone),
    )
    return call_sid


def test_an_attach_after_the_erasure_looked_at_the_recordings_is_refused(
    env: Settings, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    """The erasure has started; the person's new call is recorded; the erasure's calls step
    is held (an insert of the call's hash it must wait for) while the whole recording job
    runs. The job's attach waits for the erasure's calls step, then finds the call erased:
    nothing of the recording is left, here or at Twilio."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, erasure_id = person.business_id, person.world.erasure_id
    fake_openai.transcript = "I am Dana Smith"
    with ThreadPoolExecutor(2) as pool:
        with tenant_session(bid) as holder:  # holds the erasure at its first step
            holder.execute(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.business_id == bid)
                .with_for_update()
            ).all()
            erasure = pool.submit(run_erasure, bid, erasure_id, adapters)
            _until_waiting(_DELETE_DELIVERIES, erasure, what="the erasure held at its first step")
            call_sid = _new_call(person)
            with tenant_session(bid) as calls_holder:  # holds the erasure's calls step
                calls_holder.add(
                    ErasedCall(
                        business_id=bid,
                        call_sid_hash=call_sid_hash(bid, call_sid),
                        erasure_id=erasure_id,
                        created_at=utcnow(),
                        updated_at=utcnow(),
                    )
                )
                calls_holder.flush()
                holder.rollback()  # the erasure goes on, to its calls step
                _until_waiting(
                    _INSERT_ERASED_CALL, erasure, what="the erasure held at its calls step"
                )
                late = fake_twilio.add_recording(b"RIFF the person's voice", call_sid=call_sid)
                job = pool.submit(
                    process_recording,
                    bid,
                    adapters,
                    recording_sid=late,
                    call_sid=call_sid,
                    recording_url=fake_twilio.recording_url(late),
                    duration_s=3,
                )
                _until_waiting(_CALL_LOCK, erasure, job, what="the attach waiting on the call")
                calls_holder.rollback()  # the erasure's own insert goes through
            assert erasure.result(timeout=30) is True
            assert job.result(timeout=30) is False

    assert fake_twilio.recordings[late].deleted
    assert not adapters.storage.exists(f"{bid}/{late}.wav")
    with tenant_session(bid) as session:
        assert session.execute(select(Recording.id)).first() is None
        assert session.execute(select(CallLog.id)).first() is None
    assert traces(bid, person.phone, call_sid, "Dana") == []


def test_an_attach_under_way_when_the_erasure_comes_is_removed_by_it(
    env: Settings, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> None:
    """The job's attach has the call's lock (it waits on the recording's row, held here)
    when the erasure starts: the erasure waits for it, then removes what it attached."""
    adapters = Adapters(env)
    person = person_world(fake_twilio, make_recording_storage(env))
    bid, call_sid = person.business_id, person.world.call_sid
    # Transcribed: the job's next step is the attach.
    late = late_recording(person, fake_twilio, adapters.storage, transcript="I am Dana Smith")
    with ThreadPoolExecutor(2) as pool:
        with tenant_session(bid) as holder:
            holder.execute(
                select(Recording.id).where(Recording.recording_sid == late).with_for_update()
            ).one()
            job = pool.submit(
                process_recording, bid, adapters, recording_sid=late, call_sid=call_sid
            )
            _until_waiting(_LOCK_RECORDING, job, what="the attach waiting on the recording")
            erasure = pool.submit(run_erasure, bid, person.world.erasure_id, adapters)
            _until_waiting(_CALL_LOCK, job, erasure, what="the erasure waiting on the call")
        assert job.result(timeout=30) is True  # attached first
        assert erasure.result(timeout=30) is True

    assert fake_twilio.recordings[late].deleted and not adapters.storage.exists(f"{bid}/{late}.wav")
    with tenant_session(bid) as session:
        assert session.execute(select(Recording.id)).first() is None
        assert session.execute(select(CallLog.id)).first() is None
    assert traces(bid, person.phone, call_sid, "Dana") == []
