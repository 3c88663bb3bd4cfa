"""The agent's audio on its way to the caller: queued, paced out with marks, cleared.

It owns a call's transmit buffer and playback tracker. The AI bridge queues answers and
clears them on barge-in; the call session runs the paced transmit loop and hands over the
marks Twilio echoes back.

On a socket that can send without waiting (``MediaSocket.sends_now``), the frames of every
call go out from the frame ticker's own step (``FrameTicker.add``): one wake-up a tick for
all calls instead of one task switch per call; other sockets get a task per call that
follows the ticks. Both send the same messages at the same moments.
"""

from __future__ import annotations

import asyncio
import time

from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.domain.playback import PlaybackTracker
from switchboard.voice_gateway.ports.media_socket import MediaSocket
from switchboard.voice_gateway.session.ticker import FRAME_PERIOD_S, FrameTicker
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
        greeting_from: float | None = None,
    ) -> None:
        """``greeting_from``: when the stream started (``time.monotonic``), if a greeting is
        the first thing it plays: the first frame sent is then timed as the greeting's."""
        self._socket = socket
        self._clear_message = clear_message
        self._tx = TransmitBuffer(stream_sid, max_frames, mark_every_ms)
        self._ready = asyncio.Event()
        self._tracker = PlaybackTracker()
        self._saying_goodbye = False
        #: Set once goodbye audio is queued, so the call ends when it has been played.
        self.goodbye_queued = False
        self._greeting_from = greeting_from
        #: When agent audio reached an idle buffer, until its first frame is sent.
        self._idle_audio_at: float | None = None
        self._last_sent_at = 0.0
        # The ticker-driven path: set while it runs; it fails with whatever ended sending.
        self._failed: asyncio.Future[None] | None = None
        self._parked = True  # nothing to send: wait for audio (``_wake``), not for ticks
        self._wake_pending = False
        self._period = 0.0
        self._per_tick = 1
        self.label("ai")

    def label(self, provider: str) -> None:
        """Name the provider in the latency metrics (once the conversation is open)."""
        self._audio_latency = metrics.AGENT_AUDIO_LATENCY.labels(provider=provider)
        self._greeting_latency = metrics.GREETING_LATENCY.labels(provider=provider)

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
        if not tx and self._idle_audio_at is None:
            self._idle_audio_at = time.monotonic()
        dropped = tx.dropped
        tx.add_audio(item_id, payload)
        if tx.dropped > dropped:
            metrics.FRAMES_DROPPED.inc(tx.dropped - dropped)
        if self._saying_goodbye:
            self.goodbye_queued = True
        self._wake()

    def queue_text(self, item_id: str, text: str) -> None:
        """Queue the words of answer ``item_id`` (a text mark, for simulators)."""
        self._tx.add_text(item_id, text)

    def finish_answer(self) -> None:
        """The current answer is complete: its last partial frame and end mark go out."""
        self._tx.finish()
        self._wake()

    async def clear(self) -> None:
        """Barge-in: drop our queued audio and tell Twilio to drop what it has buffered."""
        self._tx.clear()
        self._idle_audio_at = None
        await self._socket.send_text(self._clear_message)

    def cut(self, item_id: str) -> int:
        """Cut answer ``item_id`` at what the caller heard; returns the milliseconds heard."""
        return self._tracker.interrupt(item_id)

    # -- what the call session does -------------------------------------------------

    def mark_played(self, name: str) -> None:
        """Twilio echoed a mark: the audio before it has been played."""
        self._tracker.mark_played(name)

    async def transmit(self, ticker: FrameTicker) -> None:
        """Send the queued frames of one tick (``ticker.frames_per_tick``, each mark right
        after its frame) at every tick; runs until cancelled.

        Audio reaching an idle line goes out at once: the caller's side has nothing left to
        play, so waiting for the next tick would only add up to a tick before the answer is
        heard. The frames after it follow the ticks.
        """
        if self._socket.sends_now:
            await self._transmit_on_ticks(ticker)
            return
        tx, socket, ready = self._tx, self._socket, self._ready
        period, per_tick = ticker.period_s, ticker.frames_per_tick
        ticker.listen()
        try:
            while True:
                idle = False
                if not tx:
                    ready.clear()
                    await ready.wait()
                    idle = time.monotonic() - self._last_sent_at >= period
                deadline = time.monotonic() if idle else await ticker.next_tick()
                slot = 0
                while tx and slot < per_tick:
                    match tx.pop():
                        case str() as media:
                            now = time.monotonic()
                            await socket.send_text(media)
                            self._sent_frame(now, deadline + slot * FRAME_PERIOD_S)
                            slot += 1
                        case MarkEntry() as first:
                            await self._send_mark(first)
                    while (mark := tx.pop_mark()) is not None:
                        await self._send_mark(mark)
        finally:
            ticker.unlisten()

    async def _transmit_on_ticks(self, ticker: FrameTicker) -> None:
        """``transmit`` from the ticker's step: the same rules, no task per call."""
        self._period, self._per_tick = ticker.period_s, ticker.frames_per_tick
        self._parked = not self._tx
        failed = self._failed = asyncio.get_running_loop().create_future()
        ticker.add(self._send_now)
        try:
            await failed  # sending failed (the socket closed), or the call was cancelled
        finally:
            ticker.remove(self._send_now)
            self._failed = None

    def _wake(self) -> None:
        """Something to send: a parked sender looks at it right after this step."""
        self._ready.set()
        if self._parked and self._failed is not None and not self._wake_pending:
            self._wake_pending = True
            asyncio.get_running_loop().call_soon(self._woken)

    def _woken(self) -> None:
        self._wake_pending = False
        if not self._parked or not self._tx or self._failed is None:
            return
        self._parked = False
        now = time.monotonic()
        if now - self._last_sent_at >= self._period:  # an idle line: no need to wait a tick
            self._send_now(now)

    def _send_now(self, deadline: float) -> None:
        """One tick's frames, each with the marks right after it, in one write, unless
        parked (called at every tick); a failure ends ``transmit``."""
        if self._parked:  # the ticker's call while there is nothing to send
            return
        tx, socket = self._tx, self._socket
        try:
            if not tx:
                self._parked = True
                return
            if not socket.can_send_now():
                return  # the peer is not reading: queued audio waits (and overflows)
            entry = tx.pop()
            if self._per_tick == 1 and type(entry) is str and not tx.next_is_mark():
                now = time.monotonic()  # the usual case of one frame a tick, in fewest steps
                socket.send_text_now(entry)
                self._sent_frame(now, deadline)
            else:
                self._send_batch_now(self._tick_batch(entry), deadline)
            if not tx:
                self._parked = True
        except Exception as exc:  # handed to transmit, which raises it
            self._parked = True
            failed = self._failed
            if failed is not None and not failed.done():
                failed.set_exception(exc)

    def _tick_batch(self, first: str | MarkEntry) -> list[str | MarkEntry]:
        """``first`` and what follows it in this tick: up to a tick's frames, and the marks
        right after each of them."""
        tx, per_tick = self._tx, self._per_tick
        batch, frames, entry = [first], 0, first
        while True:
            if type(entry) is str:
                frames += 1
            while (mark := tx.pop_mark()) is not None:
                batch.append(mark)
            if frames >= per_tick or not tx:
                return batch
            entry = tx.pop()
            batch.append(entry)

    def _send_batch_now(self, batch: list[str | MarkEntry], deadline: float) -> None:
        now = time.monotonic()
        self._socket.send_texts_now([e.message if isinstance(e, MarkEntry) else e for e in batch])
        slot = 0
        for entry in batch:
            if not isinstance(entry, MarkEntry):
                self._sent_frame(now, deadline + slot * FRAME_PERIOD_S)
                slot += 1
            elif entry.playback is not None:
                self._tracker.mark_sent(entry.playback)

    def _sent_frame(self, now: float, slot_at: float) -> None:
        """A frame went out at ``now`` for its 20 ms slot starting at ``slot_at`` (a frame of
        a tick's batch after the first goes out ahead of its slot: Twilio buffers it)."""
        metrics.FRAMES_OUT.inc()
        self._last_sent_at = now
        lateness = now - slot_at
        metrics.TX_JITTER.observe(lateness)
        if lateness > FRAME_PERIOD_S:
            metrics.FRAMES_LATE.inc()
        if self._idle_audio_at is not None or self._greeting_from is not None:
            self._sent_first(now)

    def _sent_first(self, now: float) -> None:
        """Time the first frame of audio that reached an idle line, and the greeting's."""
        if self._idle_audio_at is not None:
            self._audio_latency.observe(now - self._idle_audio_at)
            self._idle_audio_at = None
        if self._greeting_from is not None:
            self._greeting_latency.observe(now - self._greeting_from)
            self._greeting_from = None

    async def _send_mark(self, mark: MarkEntry) -> None:
        await self._socket.send_text(mark.message)
        if mark.playback is not None:
            self._tracker.mark_sent(mark.playback)
