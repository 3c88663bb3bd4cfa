"""A durable, ordered, on-disk spool of events that could not be published yet.

One file per event, named by a growing sequence number, written to a temporary name,
fsynced and renamed, so a crash never leaves half an event and a restart finds them all,
oldest first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_SUFFIX = ".event"


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    """One event waiting in the spool."""

    path: Path
    routing_key: str
    body: bytes


class EventSpool:
    """Append-only directory of events; read oldest first, removed once delivered."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("*.tmp"):
            leftover.unlink()  # an append that crashed before its rename never happened
        self._paths = sorted(directory.glob(f"*{_SUFFIX}"))
        self._next_seq = int(self._paths[-1].stem) + 1 if self._paths else 1

    def __len__(self) -> int:
        return len(self._paths)

    @property
    def directory(self) -> Path:
        """Where the spool keeps its files."""
        return self._directory

    def append(self, routing_key: str, body: bytes) -> None:
        """Durably add an event at the end of the spool (blocking: fsyncs the file)."""
        path = self._directory / f"{self._next_seq:020d}{_SUFFIX}"
        self._next_seq += 1
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            handle.write(routing_key.encode() + b"\n" + body)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.rename(path)
        self._paths.append(path)

    def oldest(self) -> SpooledEvent | None:
        """The event that has waited longest, or None if the spool is empty."""
        if not self._paths:
            return None
        path = self._paths[0]
        routing_key, _, body = path.read_bytes().partition(b"\n")
        return SpooledEvent(path=path, routing_key=routing_key.decode(), body=body)

    def remove(self, event: SpooledEvent) -> None:
        """Forget an event once the broker has confirmed it."""
        event.path.unlink(missing_ok=True)
        self._paths.remove(event.path)
