"""A recording's download streams into its stored file, bounded: an hour's dual-channel WAV
(115 MB) is never held in memory, a larger one than RECORDING_MAX_BYTES is refused with
nothing kept, and a download cut short (a killed worker, a dropped connection) leaves nothing
served under the recording's key; the redelivery downloads it again from the start."""

from __future__ import annotations

import hashlib
import math
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import select

from switchboard.common.bootstrap import Adapters
from switchboard.common.db import tenant_session
from switchboard.common.integrations.config import recordings_dir
from switchboard.common.integrations.openai_text import MAX_TRANSCRIPTION_UPLOAD_BYTES
from switchboard.common.integrations.storage import LocalDirectoryStorage, RecordingNotFound
from switchboard.common.integrations.twilio_client import TwilioRestClient
from switchboard.common.integrations.twilio_rest import RecordingTooLarge, TwilioRetryableError
from switchboard.common.jobs.catalog import PROCESS_RECORDING
from switchboard.common.models import CallLog, Recording
from switchboard.common.settings import Settings
from switchboard.domain.calls.recordings import cleanup_old_recordings, process_recording
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer, generated_media
from tests.support.factories import make_business, unique_phone
from tests.unit.worker.world import add, sid

MIB = 1024 * 1024


def _digest(size: int) -> str:
    digest = hashlib.sha256()
    for piece in generated_media(size):
        digest.update(piece)
    return digest.hexdigest()


def _client(fake_twilio: FakeTwilioServer) -> TwilioRestClient:
    return TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url, timeout=5)


def _files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_a_large_recording_streams_into_its_file_without_being_held_in_memory(
    fake_twilio: FakeTwilioServer, tmp_path: Path
) -> None:
    size = 48 * MIB  # about 25 minutes of a dual-channel call
    recording_sid = fake_twilio.add_generated_recording(size)
    storage = LocalDirectoryStorage(tmp_path)
    twilio = _client(fake_twilio)

    tracemalloc.start()
    try:
        with storage.writing("1/long.wav") as into:
            written = twilio.download_recording(recording_sid, into, max_bytes=64 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == size == storage.size("1/long.wav")
    with storage.reader("1/long.wav") as stored:
        assert hashlib.file_digest(stored, "sha256").hexdigest() == _digest(size)
    # tracemalloc counts every thread's allocations, the fake Twilio's in this process too
    # (seen at 10 MiB once): a third of the body, where reading it whole holds all of it.
    assert peak < 16 * MIB, f"{peak} bytes held at once"
    assert _files(tmp_path) == ["1/long.wav"]


def test_a_recording_over_the_maximum_is_refused_and_nothing_is_kept(
    fake_twilio: FakeTwilioServer, tmp_path: Path
) -> None:
    recording_sid = fake_twilio.add_generated_recording(3 * MIB)
    storage = LocalDirectoryStorage(tmp_path)

    with pytest.raises(RecordingTooLarge, match="RECORDING_MAX_BYTES"):
        with storage.writing("1/big.wav") as into:
            _client(fake_twilio).download_recording(recording_sid, into, max_bytes=2 * MIB)

    assert not storage.exists("1/big.wav")
    assert _files(tmp_path) == []  # no partial file either


def test_a_download_cut_mid_body_is_retryable_and_leaves_nothing_stored(
    fake_twilio: FakeTwilioServer, tmp_path: Path
) -> None:
    recording_sid = fake_twilio.add_generated_recording(4 * MIB, cut_after=MIB + 7)
    storage = LocalDirectoryStorage(tmp_path)

    with pytest.raises(TwilioRetryableError):
        with storage.writing("1/cut.wav") as into:
            _client(fake_twilio).download_recording(recording_sid, into, max_bytes=8 * MIB)

    assert not storage.exists("1/cut.wav")
    assert _files(tmp_path) == []


def test_a_writer_killed_mid_way_leaves_nothing_served_and_the_next_one_starts_over(
    tmp_path: Path,
) -> None:
    """As a worker SIGKILLed mid-download: its block never ends, its partial file stays."""
    storage = LocalDirectoryStorage(tmp_path)
    killed = storage.writing("1/RE1.wav")
    killed.__enter__().write(b"RIFF-the-first-half")  # and never __exit__: the process died

    assert not storage.exists("1/RE1.wav")
    with pytest.raises(RecordingNotFound):
        storage.chunks("1/RE1.wav", 0, 10)

    storage.put("1/RE1.wav", b"RIFF-the-whole-recording")

    assert storage.get("1/RE1.wav") == b"RIFF-the-whole-recording"
    assert storage.delete("1/RE1.wav") is True
    assert _files(tmp_path) == []  # the killed writer's partial file went with the key


def _recording_row(business_id: int) -> Recording:
    with tenant_session(business_id) as session:
        return session.execute(select(Recording)).scalar_one()


def _call(business_id: int) -> str:
    call_sid = sid("CA")
    add(
        business_id, CallLog(business_id=business_id, call_sid=call_sid, from_number=unique_phone())
    )
    return call_sid


def test_a_recording_over_recording_max_bytes_is_marked_too_large_and_not_retried(
    jobs_env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    call_sid = _call(business.id)
    recording_sid = fake_twilio.add_generated_recording(2 * MIB + 1, call_sid=call_sid)
    adapters = Adapters(jobs_env.model_copy(update={"recording_max_bytes": 2 * MIB}))

    for _ in range(2):  # the redelivery does not download again
        assert not process_recording(
            business.id, adapters, recording_sid=recording_sid, call_sid=call_sid
        )

    row = _recording_row(business.id)
    assert (row.status, row.storage_key, row.transcript) == ("too_large", None, None)
    assert len(fake_twilio.downloads) == 1
    assert not adapters.storage.exists(f"{business.id}/{recording_sid}.wav")
    assert _files(recordings_dir(jobs_env) / str(business.id)) == []


def test_a_job_whose_download_was_cut_stores_nothing_and_its_retry_downloads_it_whole(
    jobs_env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    call_sid = _call(business.id)
    size = 3 * MIB
    recording_sid = fake_twilio.add_generated_recording(size, call_sid, cut_after=MIB)
    adapters = Adapters(jobs_env)

    with pytest.raises(TwilioRetryableError):
        process_recording(business.id, adapters, recording_sid=recording_sid, call_sid=call_sid)

    row = _recording_row(business.id)
    assert (row.status, row.storage_key) == ("pending", None)
    key = f"{business.id}/{recording_sid}.wav"
    assert not adapters.storage.exists(key)

    fake_twilio.stop_cutting(recording_sid)  # the media host answers whole again
    assert process_recording(business.id, adapters, recording_sid=recording_sid, call_sid=call_sid)

    row = _recording_row(business.id)
    assert (row.status, row.storage_key) == ("transcribed", key)
    with adapters.storage.reader(key) as stored:
        assert hashlib.file_digest(stored, "sha256").hexdigest() == _digest(size)


def test_the_recording_job_s_time_limit_fits_the_largest_recording_it_takes() -> None:
    """An hour's dual-channel call (115 MB) is five 25 MB pieces transcribed one after the
    other, each about a minute or two at the provider; 600 s covered about three. The limit
    stays under RabbitMQ's 30-minute timeout for an unacknowledged delivery."""
    largest = Settings().recording_max_bytes  # also the most the setting may be raised to
    assert largest >= 115_200_000  # 8 kHz, 16-bit, two channels, an hour
    pieces = math.ceil(largest / MAX_TRANSCRIPTION_UPLOAD_BYTES)
    slow_piece_s, slow_download_bytes_per_s = 200, 1_000_000
    needed = pieces * slow_piece_s + largest / slow_download_bytes_per_s

    assert needed <= PROCESS_RECORDING.timeout_s < 30 * 60


#: Writers whose block never ends (a killed worker's), kept from the garbage collector.
_KILLED: list[object] = []


def _killed_download(storage: LocalDirectoryStorage, key: str, age_s: float) -> Path:
    """A partial file a worker killed mid-download left, last written ``age_s`` ago."""
    writer = storage.writing(key)
    _KILLED.append(writer)
    with writer.__enter__() as handle:  # and never __exit__: the worker died
        handle.write(b"RIFF-half")
    [partial] = (storage.root / key).parent.glob(f".{Path(key).name}.*.part")
    written = time.time() - age_s
    os.utime(partial, (written, written))
    return partial


def test_the_retention_cleanup_removes_partial_files_older_than_twice_the_job_s_limit(
    jobs_env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    """A download whose worker was killed and whose job never succeeded has no key whose
    delete would take its partial file; a download under way (written within the bound) and
    another business's files are left alone."""
    business, other = make_business(), make_business()
    adapters = Adapters(jobs_env)
    storage = LocalDirectoryStorage(recordings_dir(jobs_env))
    bound = 2 * PROCESS_RECORDING.timeout_s
    abandoned = _killed_download(storage, f"{business.id}/RE1.wav", bound + 60)
    under_way = _killed_download(storage, f"{business.id}/RE2.wav", bound - 60)
    others = _killed_download(storage, f"{other.id}/RE3.wav", bound + 60)
    storage.put(f"{business.id}/RE4.wav", b"RIFF-stored")

    assert len(_files(storage.root / str(business.id))) == 3

    cleanup_old_recordings(business.id, adapters)

    assert not abandoned.exists()
    assert under_way.exists() and others.exists()
    assert storage.get(f"{business.id}/RE4.wav") == b"RIFF-stored"
