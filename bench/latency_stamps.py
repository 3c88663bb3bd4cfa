"""What bench/latency.py's two load processes stamp, and the figures made from their stamps.

The fake provider and the Twilio-side callers run in processes of their own; each records
``time.monotonic()`` stamps (CLOCK_MONOTONIC on Linux, one clock for every process on the
machine, so a stamp taken in one process compares with a stamp taken in the other) and ships
them to the parent at the end. Every audio frame carries its serial number in its first 4
bytes, so the parent matches a frame's arrival in one process with its departure in the other,
and replays each call's arrivals in order through :class:`Stamps` — the rules that charge each
frame, applied after the run as the single-process bench applied them as it went.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

FRAME_BYTES = 160
#: A clear in a call's ``received`` list, among the serials of the agent frames (from 1).
CLEAR = 0
#: Caller frames count from here, the provider's agent frames from 1: a serial names its side.
CALLER_SERIALS_FROM = 1 << 31


def stamped_frame(serial: int) -> bytes:
    """A 20 ms μ-law frame (silence) whose first 4 bytes are its serial number."""
    return serial.to_bytes(4, "big") + b"\xff" * (FRAME_BYTES - 4)


def serials(audio: bytes) -> Iterable[int]:
    """The serial of every stamped frame in ``audio`` (μ-law passes the gateway untouched)."""
    for start in range(0, len(audio) - 3, FRAME_BYTES):
        yield int.from_bytes(audio[start : start + 4], "big")


async def watch_loop(lags: list[tuple[float, float]], every_s: float = 0.010) -> None:
    """Until cancelled: (when, how late) this process's event loop woke from each sleep of
    ``every_s`` — the lateness the load process adds to the stamps it takes about then."""
    while True:
        due = time.monotonic() + every_s
        await asyncio.sleep(every_s)
        now = time.monotonic()
        lags.append((now, now - due))


@dataclass
class ProviderStamps:
    """The fake provider's stamps: agent frames sent, caller frames arrived, barge-ins sent."""

    agent_sent: dict[int, float] = field(default_factory=dict)
    caller_arrived: dict[int, float] = field(default_factory=dict)
    #: Per call index, when each ``speech_started`` was sent, in order.
    barge_ins: dict[int, list[float]] = field(default_factory=dict)
    loop_lags: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class CallLog:
    """One call as Twilio's side saw it."""

    started_at: float = 0.0
    #: (arrival, serial) of every agent frame and clear (``CLEAR``), in the order they came.
    received: list[tuple[float, int]] = field(default_factory=list)


@dataclass
class CallerStamps:
    """The Twilio side's stamps: caller frames sent, and each call's arrivals."""

    caller_sent: dict[int, float] = field(default_factory=dict)
    calls: dict[int, CallLog] = field(default_factory=dict)
    #: When the callers stopped talking: a barge-in without its clear by then is missed.
    stopped_at: float = 0.0
    loop_lags: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Call:
    """One call's state while its arrivals are replayed."""

    index: int
    started_at: float = 0.0
    first_agent_frame_at: float = 0.0
    #: When the call's previous agent frame started playing (its arrival, or the end of the
    #: one before it if that was later).
    previous_frame_at: float = 0.0
    barge_in_sent_at: float = 0.0
    clear_at: float = 0.0


@dataclass
class Stamps:
    """Every agent frame's departure, and the figures as the arrivals are replayed."""

    provider_delay_s: float
    calls: dict[int, Call] = field(default_factory=dict)
    agent_sent: dict[int, float] = field(default_factory=dict)
    provider_to_twilio: list[float] = field(default_factory=list)
    caller_to_provider: list[float] = field(default_factory=list)
    barge_in: list[float] = field(default_factory=list)
    greeting: list[float] = field(default_factory=list)
    #: When each figure of the three lists above was taken (its frame's arrival, or the caller
    #: frame's departure), index for index: to tell the ramp-up from all calls up.
    provider_to_twilio_at: list[float] = field(default_factory=list)
    caller_to_provider_at: list[float] = field(default_factory=list)
    barge_in_at: list[float] = field(default_factory=list)

    def agent_frame_arrived(self, call: Call, serial: int, now: float) -> None:
        """A frame of agent audio reached the Twilio socket."""
        sent = self.agent_sent.pop(serial, None)
        if sent is None:
            return
        due = max(sent, call.previous_frame_at + 0.020)
        call.previous_frame_at = max(due, now)
        if not call.first_agent_frame_at:
            call.first_agent_frame_at = now
            self.greeting.append(now - call.started_at - self.provider_delay_s)
        self.provider_to_twilio.append(max(0.0, now - due))
        self.provider_to_twilio_at.append(now)

    def clear_arrived(self, call: Call, now: float) -> None:
        """A ``clear`` reached the Twilio socket: the first one after a barge-in counts."""
        if call.barge_in_sent_at and not call.clear_at:
            call.clear_at = now
            call.previous_frame_at = 0.0
            self.barge_in.append(now - call.barge_in_sent_at)
            self.barge_in_at.append(now)


def replay(provider: ProviderStamps, callers: CallerStamps, provider_delay_s: float) -> Stamps:
    """Both sides' stamps, charged frame by frame in each call's order of arrival."""
    stamps = Stamps(provider_delay_s, agent_sent=dict(provider.agent_sent))
    for serial, sent in callers.caller_sent.items():
        arrived = provider.caller_arrived.get(serial)
        if arrived is not None:
            stamps.caller_to_provider.append(arrived - sent)
            stamps.caller_to_provider_at.append(sent)
    for index, log in callers.calls.items():
        call = stamps.calls[index] = Call(index, started_at=log.started_at)
        barge_ins = provider.barge_ins.get(index, [])
        sent = 0  # how many of the call's barge-ins were sent before the arrival at hand
        for now, serial in log.received:
            while sent < len(barge_ins) and barge_ins[sent] <= now:  # speech_started went out
                call.barge_in_sent_at, call.clear_at = barge_ins[sent], 0.0
                sent += 1
            if serial == CLEAR:
                stamps.clear_arrived(call, now)
            else:
                stamps.agent_frame_arrived(call, serial, now)
    return stamps


#: How long a barge-in has for its ``clear`` before it counts as missed; one sent less than
#: this before the callers stopped is not judged (its clear may come after the stop).
BARGE_IN_GRACE_S = 1.0


def missed_barge_in_details(
    provider: ProviderStamps, callers: CallerStamps
) -> list[dict[str, float | None]]:
    """Each missed barge-in — sent ``BARGE_IN_GRACE_S`` or more before the callers stopped,
    with no ``clear`` within ``BARGE_IN_GRACE_S`` — with its call, how long before the stop
    it was sent, and when its first clear came after it (None: never)."""
    missed: list[dict[str, float | None]] = []
    for index, log in callers.calls.items():
        clears = [at for at, serial in log.received if serial == CLEAR]
        for sent in provider.barge_ins.get(index, []):
            if sent + BARGE_IN_GRACE_S > callers.stopped_at:
                continue
            if not any(sent < at <= sent + BARGE_IN_GRACE_S for at in clears):
                late = [at - sent for at in clears if at > sent]
                missed.append(
                    {
                        "call": index,
                        "before_stop_s": round(callers.stopped_at - sent, 3),
                        "clear_after_s": round(late[0], 3) if late else None,
                    }
                )
    return missed


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile of ``values`` (nearest rank), or None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(value: float | None) -> float | None:
    """Seconds as milliseconds to two places."""
    return None if value is None else round(value * 1000, 2)


def figures(values: list[float]) -> dict[str, Any]:
    """Count, p50, p99 and max in ms."""
    return {
        "n": len(values),
        "p50_ms": ms(percentile(values, 0.50)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(max(values, default=None)),
    }


#: How long after the last call's ``start``, beyond the provider's delay, every call counts
#: as up (its greeting has begun).
SETTLE_S = 1.0


def all_up_since(callers: CallerStamps, provider_delay_s: float) -> float:
    """When every call was up: ``SETTLE_S`` plus the provider's delay after the last
    call's ``start``."""
    last = max((log.started_at for log in callers.calls.values()), default=0.0)
    return last + SETTLE_S + provider_delay_s


def _lag_p99(lags: list[tuple[float, float]], since: float, until: float) -> float | None:
    """p99 of the lateness measured (``watch_loop``) between ``since`` and ``until``, in ms."""
    return ms(percentile([lag for at, lag in lags if since <= at <= until], 0.99))


def lag_p99(
    lags: list[tuple[float, float]], callers: CallerStamps, provider_delay_s: float
) -> dict[str, Any]:
    """p99 of a process's event loop lateness while the calls were up, and once they all were
    (``all_up_since``), in ms."""
    first = min((log.started_at for log in callers.calls.values()), default=0.0)
    stop = callers.stopped_at
    return {
        "p99_ms": _lag_p99(lags, first, stop),
        "all_up_p99_ms": _lag_p99(lags, all_up_since(callers, provider_delay_s), stop),
    }


def loop_lag(provider: ProviderStamps, callers: CallerStamps) -> dict[str, Any]:
    """p99 of each load process's event loop lateness while the calls were up, in ms: near the
    figures, the load generator's own queueing is in them."""
    start = min((log.started_at for log in callers.calls.values()), default=0.0)
    return {
        "provider_p99_ms": _lag_p99(provider.loop_lags, start, callers.stopped_at),
        "callers_p99_ms": _lag_p99(callers.loop_lags, start, callers.stopped_at),
    }


def all_up(stamps: Stamps, callers: CallerStamps, provider_delay_s: float) -> dict[str, Any]:
    """The figures of what happened once every call was up (``all_up_since``): the load of
    that many concurrent calls without the ramp-up's call set-ups (webhooks, provider
    connects) among them."""
    since = all_up_since(callers, provider_delay_s)

    def after(values: list[float], at: list[float]) -> list[float]:
        return [v for v, when in zip(values, at, strict=True) if since <= when]

    return {
        "seconds": round(max(0.0, callers.stopped_at - since), 1),
        "provider_to_twilio": figures(
            after(stamps.provider_to_twilio, stamps.provider_to_twilio_at)
        ),
        "caller_to_provider": figures(
            after(stamps.caller_to_provider, stamps.caller_to_provider_at)
        ),
        "barge_in": figures(after(stamps.barge_in, stamps.barge_in_at)),
    }


def report(
    provider: ProviderStamps, callers: CallerStamps, provider_delay_s: float
) -> dict[str, Any]:
    """The figures bench/latency.py reports for one run."""
    stamps = replay(provider, callers, provider_delay_s)
    missed = missed_barge_in_details(provider, callers)
    return {
        "provider_to_twilio": figures(stamps.provider_to_twilio),
        "caller_to_provider": figures(stamps.caller_to_provider),
        "barge_in": {
            **figures(stamps.barge_in),
            "missed": len(missed),
            "missed_details": missed[:10],
        },
        "greeting": figures(stamps.greeting),
        "calls_without_greeting": sum(
            1 for c in stamps.calls.values() if not c.first_agent_frame_at
        ),
        "load_loop_lag": loop_lag(provider, callers),
        "all_up": all_up(stamps, callers, provider_delay_s),
    }
