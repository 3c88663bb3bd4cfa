"""Erasures run by real ``switchboard worker`` processes (PostgreSQL, RabbitMQ, fake Twilio).

Everything held about the person goes (rows, stored audio, Twilio's recordings) and nothing of
another business that knows the same number; a worker SIGKILLed while Twilio holds a
recording's delete leaves the erasure running, and the redelivered job finishes the rest with
the counts those of one run. No worker's output shows the number or what was erased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from switchboard.common.integrations.storage import LocalDirectoryStorage
from switchboard.common.settings import Settings
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.unit.worker.erasure_world import (
    ERASED,
    Person,
    erasure_row,
    person_world,
    request_for,
    traces,
)
from tests.unit.worker.world import snapshot

pytestmark = pytest.mark.integration


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    server = FakeTwilioServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def storage(pg_rabbit: Settings) -> LocalDirectoryStorage:
    return LocalDirectoryStorage.from_settings(pg_rabbit)


@pytest.fixture
def start_erasure_worker(
    start_service: Callable[..., ServiceProcess],
    twilio: FakeTwilioServer,
    storage: LocalDirectoryStorage,
) -> Callable[[], ServiceProcess]:
    """A worker on the erasures' queue, pointed at the fake Twilio and the test's audio; a
    dead one's job is taken over quickly."""

    def start() -> ServiceProcess:
        return start_service(
            "worker",
            "--processes",
            "1",
            "--threads",
            "2",
            "--queue",
            "maintenance",
            twilio_api_base_url=twilio.url,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            recordings_dir=str(storage.root),
            worker_heartbeat_interval_s="0.5",
            worker_stale_after_s="2",
            log_level="INFO",  # every line it prints is checked for the person's data
        )

    return start


def _done(person: Person, erasure_id: int, what: str) -> None:
    wait_for(
        lambda: erasure_row(person.business_id, erasure_id).status == "done",
        timeout=90,
        what=what,
    )


def _assert_erased(
    person: Person, erasure_id: int, twilio: FakeTwilioServer, storage: LocalDirectoryStorage
) -> None:
    erasure = erasure_row(person.business_id, erasure_id)
    assert erasure.counts == ERASED and erasure.phone is None
    assert traces(person.business_id, person.phone, person.world.call_sid, "Dana") == []
    assert all(twilio.recordings[s].deleted for s in person.recording_sids)
    assert not any(storage.exists(key) for key in person.audio_keys)


def _assert_private(workers: list[ServiceProcess], person: Person) -> None:
    for worker in workers:
        output = worker.output()
        assert "erasures.done" in output or worker.proc.returncode == -9
        for private in (person.phone, person.phone[1:], "Dana", person.world.call_sid):
            assert private not in output, f"{private!r} in {worker.log_path.name}"


def test_a_worker_erases_the_person_and_nothing_of_another_business(
    twilio: FakeTwilioServer,
    storage: LocalDirectoryStorage,
    start_erasure_worker: Callable[[], ServiceProcess],
) -> None:
    person = person_world(twilio, storage)
    elsewhere = person_world(twilio, storage, phone=person.phone)
    theirs = snapshot(elsewhere.business_id)
    worker = start_erasure_worker()

    erasure = request_for(person)

    _done(person, erasure.id, "the erasure to finish")
    _assert_erased(person, erasure.id, twilio, storage)
    assert snapshot(elsewhere.business_id) == theirs
    assert not any(twilio.recordings[s].deleted for s in elsewhere.recording_sids)
    assert all(storage.exists(key) for key in elsewhere.audio_keys)
    _assert_private([worker], person)


def test_a_worker_killed_mid_erasure_leaves_the_rest_to_the_redelivered_job(
    twilio: FakeTwilioServer,
    storage: LocalDirectoryStorage,
    start_erasure_worker: Callable[[], ServiceProcess],
) -> None:
    person = person_world(twilio, storage)
    elsewhere = person_world(twilio, storage, phone=person.phone)
    theirs = snapshot(elsewhere.business_id)
    # Twilio deletes the first recording it has but never answers: the worker dies waiting.
    twilio.hold_next("delete_recording")
    first = start_erasure_worker()

    erasure = request_for(person)
    twilio.wait_for(lambda: twilio.held, timeout=60)
    first.kill()

    halfway = erasure_row(person.business_id, erasure.id)
    assert halfway.status == "running" and halfway.phone == person.phone
    assert halfway.counts.get("webhook_deliveries") == ERASED["webhook_deliveries"]
    assert "leads" not in halfway.counts
    second = start_erasure_worker()
    _done(person, erasure.id, "the redelivered erasure to finish")

    _assert_erased(person, erasure.id, twilio, storage)  # counted once, whatever was redone
    assert snapshot(elsewhere.business_id) == theirs
    assert not any(twilio.recordings[s].deleted for s in elsewhere.recording_sids)
    _assert_private([first, second], person)
