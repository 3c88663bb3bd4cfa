"""The agent's audio on its way to the caller: queued, paced out with marks, cleared.

It owns a call's transmit buffer and playback tracker. The AI bridge queues answers and
clears them on barge-in; the call session runs the paced transmit loop and hands over the
marks Twilio echoes back.
"""

from __future__ import annotations

import asyncio
import time

from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.domain.playback import PlaybackTracker
from switchboard.voice_gateway.ports.media_socket import MediaSocket
from switchboard.voice_gateway.session.ticker import FrameTicker
from switchboard.voice_gateway.session.tx_buffer import MarkEntry, TransmitBuffer


class AgentPlayback:
    """One call's outgoing agent audio, from the provider's chunks to Twilio's echoed marks."""

    def __init__(
        self,
        socket: MediaSocket,
        stream_sid: str,
        clear_message: str,
        *,
        max_frames: int,
        mark_every_ms: int,
    ) -> None:
        self._socket = socket
        self._clear_message = clear_message
        self._tx = TransmitBuffer(stream_sid, max_frames, mark_every_ms)
        self._ready = asyncio.Event()
        self._tracker = PlaybackTracker()
        self._saying_goodbye = False
        #: Set once goodbye audio is queued, so the call ends when it has been played.
        self.goodbye_queued = False

    @property
    def speaking(self) -> bool:
        """True while agent audio is queued or Twilio has not played all of it yet."""
        return bool(self._tx) or self._tracker.outstanding_marks > 0

    @property
    def saying_goodbye(self) -> bool:
        """True once the call is hanging up: what is queued from now on is the goodbye."""
        return self._saying_goodbye

    def begin_goodbye(self) -> None:
        """The call hangs up after the goodbye the agent is about to say."""
        self._saying_goodbye = True

    # -- what the AI bridge does ----------------------------------------------------

    def queue_audio(self, item_id: str, payload: bytes) -> None:
        """Queue audio of answer ``item_id`` (frames beyond the buffer's cap are dropped)."""
        tx = self._tx
        dropped = tx.dropped
        tx.add_audio(item_id, payload)
        if tx.dropped > dropped:
            metrics.FRAMES_DROPPED.inc(tx.dropped - dropped)
        if self._saying_goodbye:
            self.goodbye_queued = True
        self._ready.set()

    def queue_text(self, item_id: str, text: str) -> None:
        """Queue the words of answer ``item_id`` (a text mark, for simulators)."""
        self._tx.add_text(item_id, text)

    def finish_answer(self) -> None:
        """The current answer is complete: its last partial frame and end mark go out."""
        self._tx.finish()
        self._ready.set()

    async def clear(self) -> None:
        """Barge-in: drop our queued audio and tell Twilio to drop what it has buffered."""
        self._tx.clear()
        await self._socket.send_text(self._clear_message)

    def cut(self, item_id: str) -> int:
        """Cut answer ``item_id`` at what the caller heard; returns the milliseconds heard."""
        return self._tracker.interrupt(item_id)

    # -- what the call session does -------------------------------------------------

    def mark_played(self, name: str) -> None:
        """Twilio echoed a mark: the audio before it has been played."""
        self._tracker.mark_played(name)

    async def transmit(self, ticker: FrameTicker) -> None:
        """Send one queued frame per tick, each mark right after its frame; runs until cancelled."""
        tx, socket, ready = self._tx, self._socket, self._ready
        period = ticker.period_s
        ticker.listen()
        try:
            while True:
                if not tx:
                    ready.clear()
                    await ready.wait()
                deadline = await ticker.next_tick()
                if not tx:
                    continue
                match tx.pop():
                    case str() as media:
                        lateness = time.monotonic() - deadline
                        await socket.send_text(media)
                        metrics.FRAMES_OUT.inc()
                        metrics.TX_JITTER.observe(lateness)
                        if lateness > period:
                            metrics.FRAMES_LATE.inc()
                    case MarkEntry() as first:
                        await self._send_mark(first)
                while (mark := tx.pop_mark()) is not None:
                    await self._send_mark(mark)
        finally:
            ticker.unlisten()

    async def _send_mark(self, mark: MarkEntry) -> None:
        await self._socket.send_text(mark.message)
        if mark.playback is not None:
            self._tracker.mark_sent(mark.playback)
