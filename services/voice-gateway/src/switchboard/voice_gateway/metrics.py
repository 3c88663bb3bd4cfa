"""The gateway's Prometheus metrics: calls, frames, webhooks, and call events published.

The per-frame ones (frames in, out, late; TX jitter) are ``frame_metrics``' cheap kind.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from switchboard.voice_gateway.frame_metrics import frame_counter, frame_histogram

ACTIVE_CALLS = Gauge("switchboard_gateway_active_calls", "Calls with a live media stream.")
DRAINING = Gauge(
    "switchboard_gateway_draining",
    "1 while this gateway process drains (SIGTERM): it takes no new call, its calls run on.",
)
CALLS_ENDED = Counter(
    "switchboard_gateway_calls_ended_total", "Calls whose media stream ended.", ["reason"]
)
FRAMES_IN = frame_counter("switchboard_gateway_frames_in_total", "Caller audio frames received.")
FRAMES_OUT = frame_counter("switchboard_gateway_frames_out_total", "Agent audio frames sent.")
FRAMES_DROPPED = Counter(
    "switchboard_gateway_frames_dropped_total",
    "Agent audio frames dropped because the call's transmit buffer was full.",
)
FRAMES_LATE = frame_counter(
    "switchboard_gateway_frames_late_total",
    "Agent audio frames sent more than one frame period after their slot.",
)
TX_JITTER = frame_histogram(
    "switchboard_gateway_tx_jitter_seconds",
    "How late each agent audio frame was sent relative to its 20 ms slot.",
    buckets=(
        0.0005,
        0.001,
        0.002,
        0.003,
        0.004,
        0.005,
        0.006,
        0.008,
        0.010,
        0.015,
        0.020,
        0.030,
        0.050,
        0.100,
        0.250,
        0.500,
        1.0,
    ),
)
BARGE_INS = Counter("switchboard_gateway_barge_ins_total", "Callers who spoke over the agent.")
PROTOCOL_ERRORS = Counter(
    "switchboard_gateway_protocol_errors_total",
    "Media streams closed (1008) for a malformed, oversized, out-of-order or unauthenticated "
    "message, or no start in time, by reason.",
    ["reason"],
)
MEDIA_STREAMS_REFUSED = Counter(
    "switchboard_gateway_media_streams_refused_total",
    "Media stream sockets closed with 1013 (try again later) before their start message, by "
    "reason: awaiting_start_full (GATEWAY__MAX_AWAITING_START sockets were already waiting).",
    ["reason"],
)
#: Latency buckets of the call path, 1 ms to 5 s.
_LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.005,
    0.010,
    0.020,
    0.040,
    0.060,
    0.100,
    0.150,
    0.250,
    0.500,
    1.0,
    2.0,
    5.0,
)
AGENT_AUDIO_LATENCY = Histogram(
    "switchboard_gateway_agent_audio_latency_seconds",
    "From the provider's agent audio reaching the gateway while the call's transmit buffer "
    "was idle to its first frame sent on the Twilio socket, by provider.",
    ["provider"],
    buckets=_LATENCY_BUCKETS,
)
CALLER_AUDIO_LATENCY = Histogram(
    "switchboard_gateway_caller_audio_latency_seconds",
    "From a caller frame received on the Twilio socket to its append sent to the provider.",
    ["provider"],
    buckets=_LATENCY_BUCKETS,
)
CALLER_FRAMES_DROPPED = Counter(
    "switchboard_gateway_caller_frames_dropped_total",
    "Caller audio frames dropped because the provider (or the caller transcriber, "
    "provider=google_stt) was too slow to take them.",
    ["provider"],
)
BARGE_IN_LATENCY = Histogram(
    "switchboard_gateway_barge_in_latency_seconds",
    "From the provider's speech_started (the caller spoke over the agent) to clear sent to "
    "Twilio, by provider.",
    ["provider"],
    buckets=_LATENCY_BUCKETS,
)
GREETING_LATENCY = Histogram(
    "switchboard_gateway_greeting_latency_seconds",
    "From the media stream's start message to the greeting's first frame sent, provider's "
    "own answer time included, by provider.",
    ["provider"],
    buckets=_LATENCY_BUCKETS,
)
PREOPENED_SESSIONS = Counter(
    "switchboard_gateway_preopened_sessions_total",
    "Provider sessions opened while the phone rang, by what became of them: used by the "
    "call's stream, abandoned (no stream in time), failed, or closed at shutdown.",
    ["outcome"],
)
AI_SESSIONS_RESUMED = Counter(
    "switchboard_gateway_ai_sessions_resumed_total",
    "Provider sessions carried on over a new connection mid-call (Gemini Live's goAway).",
    ["provider", "reason"],
)
WEBHOOKS = Counter(
    "switchboard_gateway_webhooks_total", "Twilio webhooks handled.", ["route", "outcome"]
)

# Call events, counted by every publisher adapter.
EVENTS_PUBLISHED = Counter(
    "switchboard_events_published_total",
    "Call events confirmed by the broker (or delivered in-process).",
    ["type"],
)
EVENTS_SPOOLED = Counter(
    "switchboard_events_spooled_total",
    "Call events written to the local spool because the broker was unreachable.",
    ["type"],
)
EVENTS_SPOOL_DEPTH = Gauge(
    "switchboard_events_spool_depth", "Call events waiting in the local spool."
)
