"""The gateway's own tunables: ``GATEWAY__<FIELD>`` environment variables.

The settings every process shares (``AMQP_URL``, ``VAR_DIR``, secrets, …) stay in
``switchboard.common.settings.Settings``; only the gateway reads these.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The prefix of every gateway variable (``GATEWAY__EVENT_QUEUE=…``).
ENV_PREFIX = "GATEWAY__"


class GatewaySettings(BaseSettings):
    """Tunables of the voice gateway, read from ``GATEWAY__<FIELD>`` variables (and ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", case_sensitive=False
    )

    #: Where call events wait while RabbitMQ is unreachable; default ``<VAR_DIR>/event-spool``.
    event_spool_dir: Path | None = None
    #: A durable queue bound to every event, declared by the gateway so no event is dropped
    #: before the API's consumer first starts. Empty: declare none.
    event_queue: str = "switchboard.api.call-events"  # the API consumer's queue
    #: How long a webhook's media token opens a stream. Twilio connects within seconds of the
    #: webhook, so a later stream is a replay (each process also refuses a token used before).
    media_token_ttl_s: float = Field(default=60.0, gt=0)
    #: How long a fetched agent config is used without asking the API again; 0 (default):
    #: every call start revalidates it (a 304 while unchanged), so a change reaches the next
    #: call. Above 0, a changed setting or a moved number takes up to this long to arrive.
    agent_config_ttl_s: float = Field(default=0.0, ge=0)
    agent_config_timeout_s: float = Field(default=3.0, gt=0)
    #: Longest agent audio queued for one call; beyond it frames are dropped and counted.
    max_tx_buffer_s: float = Field(default=120.0, gt=0)
    #: Agent audio between two playback marks (the barge-in cut resolution).
    mark_every_ms: int = Field(default=200, ge=20)
    #: A session whose socket has carried nothing for this long is closed by the reaper.
    dead_socket_timeout_s: float = Field(default=15.0, gt=0)
    reaper_interval_s: float = Field(default=5.0, gt=0)
    #: After SIGTERM, how long the calls in flight may run on before they are ended (keep
    #: Kubernetes' ``terminationGracePeriodSeconds`` above it); a second signal stops at once.
    drain_timeout_s: float = Field(default=600.0, ge=0)
    watchdog_interval_s: float = Field(default=0.5, gt=0)
    #: How long one read of a webhook's body waits for the client's next bytes: a body that
    #: stops short of its Content-Length is a 408 and its connection closed (per read).
    body_read_timeout_s: float = Field(default=30.0, gt=0)
    #: Media stream sockets accepted and still waiting for ``start`` (each may wait 10 s),
    #: at once; one more is closed at once with 1013 (try again later) and counted.
    max_awaiting_start: int = Field(default=256, ge=1)
    #: A provider session opened while the phone rings waits this long for its media stream
    #: before it is closed; 0 opens every session when the stream starts instead.
    preopen_timeout_s: float = Field(default=15.0, ge=0)
    #: The base URL Twilio is told to open the media stream on (``https://…``; the TwiML
    #: says ``wss://…/twilio/media``). Empty: ``PUBLIC_BASE_URL``. With several gateway
    #: processes behind one address, give each its own reachable address here (a per-pod
    #: route): the stream then reaches the process that answered the webhook and claims the
    #: session it opened while the phone rang, instead of opening another.
    stream_base_url: str = ""
    #: Agent audio frames (20 ms each) written to a call's socket at once, every as many
    #: 20 ms: Twilio buffers audio ahead of its slot. 1 paces every frame on its own.
    frames_per_write: int = Field(default=2, ge=1, le=5)
    #: Used when the agent config does not say.
    default_silence_timeout_s: int = 20
    silence_prompt: str = "Are you still there?"
    goodbye: str = "Thank you for calling. Goodbye."
    openai_model: str = "gpt-realtime"
    #: A Gemini Live model of the Gemini API that speaks audio (``GATEWAY__GEMINI_MODEL``).
    gemini_model: str = "gemini-2.5-flash-native-audio-preview-09-2025"
    #: Use Google Cloud streaming STT for caller transcripts when the provider gives none.
    google_stt_enabled: bool = False
    #: ``host:port`` of the Speech API; empty means Google's endpoint with default credentials.
    google_stt_endpoint: str = ""
    #: Plain-text gRPC without credentials (only for a local fake server).
    google_stt_insecure: bool = False

    @field_validator("stream_base_url")
    @classmethod
    def _http_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("GATEWAY__STREAM_BASE_URL must start with https:// or http://")
        return value

    #: Offline agent: how long the caller must be quiet before it answers.
    offline_end_of_speech_ms: int = Field(default=600, ge=100)
