"""The media tokens already used, kept on disk so a restarted gateway still refuses them.

A file of ``<expires_at> <token id>`` lines under ``VAR_DIR``. A line is appended when a
token is first used (a write of some 50 bytes, not fsynced: a crash of the machine ends its
calls with it, and a process that dies has handed its writes to the kernel). At start the
lines of tokens still valid are read back and the file is rewritten with only those, as it
is again every :data:`COMPACT_EVERY` lines. Tokens live minutes, so the file stays small. A
gateway that never took a call has no file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TextIO

#: Lines appended between two rewrites of the file with only the unexpired ones.
COMPACT_EVERY = 10_000


class UsedTokenJournal:
    """Appends used token ids to ``path``; :meth:`load` reads back the unexpired ones."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: TextIO | None = None
        self._appended = 0

    def load(self, now: float) -> list[tuple[str, float]]:
        """The ids of tokens used before and valid at ``now``, the file rewritten with only
        those; no file is made until a token is used."""
        kept = self._read(now)
        if self._path.exists():
            self._rewrite(kept)
        return kept

    def record(self, token_id: str, expires_at: float) -> None:
        """Append one used token (called as the token opens its stream)."""
        if self._file is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("a", encoding="utf-8")
        self._file.write(f"{expires_at:.3f} {token_id}\n")
        self._file.flush()
        self._appended += 1
        if self._appended >= COMPACT_EVERY:
            self._rewrite(self._read(time.time()))

    def close(self) -> None:
        """Close the file (the lines are already written)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    async def aclose(self) -> None:
        """Close the file as the gateway stops."""
        self.close()

    def _read(self, now: float) -> list[tuple[str, float]]:
        if not self._path.exists():
            return []
        kept: list[tuple[str, float]] = []
        for line in self._path.read_text(encoding="utf-8", errors="replace").splitlines():
            expires, _, token_id = line.partition(" ")
            try:
                expires_at = float(expires)
            except ValueError:
                continue  # the half-written last line of a crash
            if expires_at >= now and len(token_id) == 32:
                kept.append((token_id, expires_at))
        return kept

    def _rewrite(self, kept: list[tuple[str, float]]) -> None:
        self.close()
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text("".join(f"{exp:.3f} {tid}\n" for tid, exp in kept), encoding="utf-8")
        os.replace(tmp, self._path)
        self._appended = 0
