"""Recording storage: safe keys, and the local directory and in-memory adapters."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard.common.integrations.storage import (
    CHUNK_BYTES,
    InMemoryStorage,
    InvalidStorageKey,
    LocalDirectoryStorage,
    RecordingNotFound,
    RecordingStorage,
    make_recording_storage,
    validate_key,
)
from switchboard.common.settings import Settings


@pytest.fixture(params=["local", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> RecordingStorage:
    return (
        LocalDirectoryStorage(tmp_path / "recordings")
        if request.param == "local"
        else InMemoryStorage()
    )


@pytest.mark.parametrize("key", ["7/CA123.wav", "business-7/2024_01/RE1.mp3", "a", "x-y_z.1"])
def test_ordinary_keys_are_valid(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../etc/passwd",
        "7/../../x",
        "/abs/path",
        "7//x",
        "7/.hidden",
        "a\\b",
        "7/x\x00",
        "é",
        "x" * 513,
        "7/",
    ],
)
def test_keys_that_could_escape_or_confuse_the_store_are_refused(key: str) -> None:
    with pytest.raises(InvalidStorageKey):
        validate_key(key)


def test_what_is_put_can_be_got_back_and_replaced(storage: RecordingStorage) -> None:
    storage.put("7/CA1.wav", b"first")
    storage.put("7/CA1.wav", b"second")

    assert storage.get("7/CA1.wav") == b"second"
    assert storage.exists("7/CA1.wav")


def test_a_deleted_key_is_gone_and_deleting_twice_is_harmless(storage: RecordingStorage) -> None:
    storage.put("7/CA1.wav", b"audio")

    assert storage.delete("7/CA1.wav") is True
    assert storage.delete("7/CA1.wav") is False
    assert not storage.exists("7/CA1.wav")
    with pytest.raises(RecordingNotFound):
        storage.get("7/CA1.wav")


def test_every_operation_validates_the_key(storage: RecordingStorage) -> None:
    for operation in (
        lambda: storage.put("../x", b""),
        lambda: storage.get("../x"),
        lambda: storage.exists("../x"),
    ):
        with pytest.raises(InvalidStorageKey):
            operation()


def test_the_local_storage_writes_files_under_its_root(tmp_path: Path) -> None:
    LocalDirectoryStorage(tmp_path).put("7/CA1.wav", b"audio")

    assert (tmp_path / "7" / "CA1.wav").read_bytes() == b"audio"
    assert [p.name for p in (tmp_path / "7").iterdir()] == ["CA1.wav"]  # no temporary left over


def test_a_symlink_out_of_the_root_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "7").symlink_to(outside)

    with pytest.raises(InvalidStorageKey, match="leaves the storage root"):
        LocalDirectoryStorage(root).put("7/CA1.wav", b"audio")


def test_by_default_recordings_live_under_var_dir(tmp_path: Path) -> None:
    storage = make_recording_storage(Settings(var_dir=tmp_path))

    assert isinstance(storage, LocalDirectoryStorage)
    assert storage.root == (tmp_path / "recordings").resolve()


def test_a_range_is_read_in_chunks_and_a_missing_key_is_refused_before_any(
    storage: RecordingStorage,
) -> None:
    data = bytes(range(256)) * (CHUNK_BYTES // 128)  # two chunks' worth
    storage.put("1/long.wav", data)

    assert storage.size("1/long.wav") == len(data)
    assert (
        b"".join(storage.chunks("1/long.wav", 10, CHUNK_BYTES + 5)) == data[10 : CHUNK_BYTES + 15]
    )
    assert b"".join(storage.chunks("1/long.wav", len(data) - 3, 99)) == data[-3:]
    with pytest.raises(RecordingNotFound):
        storage.size("1/missing.wav")
    with pytest.raises(RecordingNotFound):
        storage.chunks("1/missing.wav", 0, 1)


def test_partial_files_older_than_the_bound_are_removed_under_the_prefix_only(
    tmp_path: Path,
) -> None:
    storage = LocalDirectoryStorage(tmp_path)
    now, killed = time.time(), []  # writers killed mid-way: their blocks never end
    for key, age_s in (("1/old.wav", 7200), ("1/new.wav", 60), ("2/old.wav", 7200)):
        killed.append(storage.writing(key))
        with killed[-1].__enter__() as handle:  # noqa: PLC2801 - the block never ends
            handle.write(b"half")
        [partial] = (tmp_path / key).parent.glob(f".{Path(key).name}.*.part")
        os.utime(partial, (now - age_s, now - age_s))
    storage.put("1/kept.wav", b"whole")
    os.utime(tmp_path / "1/kept.wav", (now - 7200, now - 7200))

    cutoff = datetime.fromtimestamp(now - 3600, UTC)
    assert storage.remove_partials("1", cutoff) == 1
    assert storage.remove_partials("1", cutoff) == 0
    assert storage.remove_partials("3", cutoff) == 0  # no such directory

    left = sorted(p.name.split(".")[1] for p in tmp_path.rglob(".*.part"))
    assert left == ["new", "old"]  # 1/new.wav's and 2/old.wav's
    assert not list((tmp_path / "1").glob(".old.wav.*"))
    assert storage.get("1/kept.wav") == b"whole"
    with pytest.raises(InvalidStorageKey):
        storage.remove_partials("../1", cutoff)
    assert InMemoryStorage().remove_partials("1", cutoff) == 0
