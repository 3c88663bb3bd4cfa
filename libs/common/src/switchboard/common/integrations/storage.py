"""Recording storage: where call audio is kept once downloaded from Twilio.

Keys look like ``<business_id>/<call_sid>.wav``: slash-separated segments of letters, digits,
``.``, ``_`` and ``-``, none starting with a dot, so no key can escape the storage root (and
no key names a file being written, whose name starts with one).
"""

from __future__ import annotations

import glob
import io
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from switchboard.common.integrations import config
from switchboard.common.settings import Settings

MAX_KEY_LENGTH = 512
#: How much of a file one read of :meth:`RecordingStorage.chunks` holds.
CHUNK_BYTES = 64 * 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


class InvalidStorageKey(ValueError):  # noqa: N818 - reads as what the caller gave
    """The key is empty, too long, absolute, or could walk out of the storage root."""


class RecordingNotFound(LookupError):  # noqa: N818 - reads as what the storage found
    """No object is stored under the key."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ``InvalidStorageKey``."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidStorageKey(f"storage key must be 1..{MAX_KEY_LENGTH} characters")
    if not all(_SEGMENT.fullmatch(segment) for segment in key.split("/")):
        raise InvalidStorageKey(f"unsafe storage key: {key!r}")
    return key


class RecordingStorage(ABC):
    """The port: a flat key → bytes store for recording audio."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there."""

    @abstractmethod
    def writing(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file to write ``key``'s bytes into, piece by piece: stored under ``key`` only
        when the block ends without an error, replacing what was there. Until then nothing
        (and after an error, or a process killed mid-way, never) is served under ``key``; a
        later ``writing`` of the same key starts over."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises ``RecordingNotFound``."""

    def reader(self, key: str) -> BinaryIO:
        """The bytes under ``key`` as a file open for reading (close it); raises
        ``RecordingNotFound`` at once."""
        return io.BytesIO(self.get(key))

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove ``key``; False when nothing was stored (deleting twice is fine)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""

    def size(self, key: str) -> int:
        """How many bytes are stored under ``key``; raises ``RecordingNotFound``."""
        return len(self.get(key))

    def remove_partials(self, prefix: str, older_than: datetime) -> int:
        """Remove the partial files of writers killed mid-way (their block never ended)
        under the keys starting ``prefix/``, last written before ``older_than``: ones whose key
        is never stored (the job never succeeded) would stay forever. How many went. A storage
        whose writes leave none (not on disk) has none."""
        validate_key(prefix)
        return 0

    def chunks(self, key: str, start: int, length: int) -> Iterator[bytes]:
        """``length`` bytes from ``start``, in pieces: a player's range of an hour-long call
        is served without reading the whole file. Raises ``RecordingNotFound`` at once."""
        data = self.get(key)[start : start + length]
        return iter([data] if data else [])


class LocalDirectoryStorage(RecordingStorage):
    """Files under one root directory; writes are atomic (a partial file beside the key's,
    ``.<name>.<random>.part``, renamed into place once complete)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalDirectoryStorage:
        """Storage rooted at ``RECORDINGS_DIR`` (default ``<var_dir>/recordings``)."""
        return cls(config.recordings_dir(settings))

    def _path(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root):  # a symlink inside the root pointing out
            raise InvalidStorageKey(f"storage key leaves the storage root: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        """Write atomically, creating parent directories."""
        with self.writing(key) as handle:
            handle.write(data)

    @contextmanager
    def writing(self, key: str) -> Iterator[BinaryIO]:
        """Write a partial file of this writer's own, flush it to disk, then rename it to the
        key's name; removed on an error. One a killed writer left is never served (no key
        names it) and goes with the key's :meth:`delete`."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        partial = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        """Read the file for ``key``."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise RecordingNotFound(key) from exc

    def delete(self, key: str) -> bool:
        """Remove the file for ``key`` (and a partial one a killed writer left)."""
        path = self._path(key)
        for partial in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
            partial.unlink(missing_ok=True)
        if not path.is_file():
            return False
        path.unlink(missing_ok=True)
        return True

    def exists(self, key: str) -> bool:
        """Whether the file for ``key`` exists."""
        return self._path(key).is_file()

    def remove_partials(self, prefix: str, older_than: datetime) -> int:
        """The ``.<name>.<random>.part`` files under the prefix's directory, by modification
        time: a live writer's file is written to as it goes, so a bound past the longest
        write never touches one."""
        directory = self._path(prefix)
        if not directory.is_dir():
            return 0
        cutoff, removed = older_than.timestamp(), 0
        for partial in directory.rglob(".*.part"):
            try:
                if partial.is_file() and partial.stat().st_mtime < cutoff:
                    partial.unlink()
                    removed += 1
            except FileNotFoundError:  # renamed into place, or removed, meanwhile
                continue
        return removed

    def size(self, key: str) -> int:
        """The file's size, from its metadata."""
        path = self._path(key)
        if not path.is_file():
            raise RecordingNotFound(key)
        return path.stat().st_size

    def reader(self, key: str) -> BinaryIO:
        """The file, open for reading."""
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise RecordingNotFound(key) from exc

    def chunks(self, key: str, start: int, length: int) -> Iterator[bytes]:
        """Reads of at most :data:`CHUNK_BYTES` from an open file (opened now, so a missing
        file raises here, before any answer starts)."""
        return _read_chunks(self.reader(key), start, length)


def _read_chunks(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(length, CHUNK_BYTES))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


@dataclass
class InMemoryStorage(RecordingStorage):
    """A dict, for unit tests; validates keys like the real storage."""

    objects: dict[str, bytes] = field(default_factory=dict)

    def put(self, key: str, data: bytes) -> None:
        """Store a copy of ``data``."""
        self.objects[validate_key(key)] = bytes(data)

    @contextmanager
    def writing(self, key: str) -> Iterator[BinaryIO]:
        """A buffer, stored when the block ends without an error."""
        validate_key(key)
        buffer = io.BytesIO()
        yield buffer
        self.objects[key] = buffer.getvalue()

    def get(self, key: str) -> bytes:
        """The stored bytes."""
        try:
            return self.objects[validate_key(key)]
        except KeyError as exc:
            raise RecordingNotFound(key) from exc

    def delete(self, key: str) -> bool:
        """Forget ``key``."""
        return self.objects.pop(validate_key(key), None) is not None

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        return validate_key(key) in self.objects


def make_recording_storage(settings: Settings) -> RecordingStorage:
    """The configured recording storage (a local directory)."""
    return LocalDirectoryStorage.from_settings(settings)
