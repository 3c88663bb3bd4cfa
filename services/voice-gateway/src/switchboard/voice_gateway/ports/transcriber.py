"""The speech-to-text port: caller transcripts when the AI provider gives none."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator


class Transcription(ABC):
    """One streaming recognition of a call's caller audio."""

    @abstractmethod
    def push_audio(self, payload: bytes) -> None:
        """Hand over a frame of caller μ-law audio; never blocks."""

    @abstractmethod
    def transcripts(self) -> AsyncIterator[str]:
        """Final transcripts, in order, until the stream ends."""

    @abstractmethod
    async def close(self) -> None:
        """Finish the stream (pending results still arrive on ``transcripts``)."""


class Transcriber(ABC):
    """Starts streaming recognitions."""

    @abstractmethod
    async def start(self, language: str) -> Transcription:
        """Begin recognizing 8 kHz μ-law audio in ``language`` (BCP-47)."""


class FakeTranscription(Transcription):
    """Turns every ``frames_per_transcript`` frames into the transcript ``"caller said N"``."""

    def __init__(self, frames_per_transcript: int) -> None:
        self.frames = 0
        self._every = frames_per_transcript
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()

    def push_audio(self, payload: bytes) -> None:
        """Count the frame; emit a transcript every so many."""
        self.frames += 1
        if self.frames % self._every == 0:
            self._queue.put_nowait(f"caller said {self.frames // self._every}")

    async def transcripts(self) -> AsyncIterator[str]:
        """The emitted transcripts."""
        while (text := await self._queue.get()) is not None:
            yield text

    async def close(self) -> None:
        """End the stream."""
        self._queue.put_nowait(None)


class FakeTranscriber(Transcriber):
    """Hands out ``FakeTranscription``s."""

    def __init__(self, frames_per_transcript: int = 50) -> None:
        self.frames_per_transcript = frames_per_transcript
        self.started: list[FakeTranscription] = []

    async def start(self, language: str) -> Transcription:
        """A new fake transcription."""
        transcription = FakeTranscription(self.frames_per_transcript)
        self.started.append(transcription)
        return transcription
