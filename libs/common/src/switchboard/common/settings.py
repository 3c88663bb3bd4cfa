"""The one settings object every Switchboard process reads, once, from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceRole = Literal["api", "worker", "gateway", "scheduler", "all"]

#: Secrets whose development defaults must never reach production.
_DEV_SECRETS = {
    "ADMIN_API_KEY": "dev-admin-key",
    "INTERNAL_API_TOKEN": "dev-internal-token",
    "TWILIO_AUTH_TOKEN": "dev-twilio-auth-token",
    "MEDIA_TOKEN_SECRET": "dev-media-token-secret",
    "SESSION_SECRET": "dev-session-secret",
}
#: In production every secret must be set to a random value at least this long (Twilio's
#: auth tokens are 32 characters); the VAPID key is a P-256 key, 43 characters at the least.
MIN_SECRET_LENGTH = 32
#: The URLs one service needs to reach another, each with the role whose port it names.
#: ``switchboard run`` derives them from the ports it serves on (:meth:`Settings.urls_for_ports`).
_SERVICE_URLS = {"public_base_url": "gateway", "api_base_url": "api"}
_MIN_VAPID_KEY_LENGTH = 43
#: The URL schemes each URL setting accepts (PostgreSQL through psycopg 3, see
#: :func:`_with_psycopg`; SQLite; RabbitMQ), and the form its message shows.
_POSTGRESQL_OR_SQLITE = (
    frozenset({"postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2", "sqlite"}),
    "PostgreSQL (postgresql://user:password@host/db) or SQLite (sqlite:///path)",
)
_URL_SCHEMES = {
    "DATABASE_URL": _POSTGRESQL_OR_SQLITE,
    "MIGRATION_DATABASE_URL": _POSTGRESQL_OR_SQLITE,
    "AMQP_URL": (frozenset({"amqp", "amqps"}), "RabbitMQ (amqp://user:password@host/vhost)"),
}


#: The file every process reads settings from too, in the directory it starts in.
ENV_FILE = ".env"


class EnvFileError(ValueError):
    """``.env`` cannot be read as settings: one line naming the file and what to do."""


def env_file_not_utf8(path: str | Path = ENV_FILE) -> EnvFileError:
    """The error of a ``path`` that is not UTF-8 text, naming the first byte that is not
    (its offset in the file, as the leads CSV import names one, and its line)."""
    shown = os.path.abspath(path)
    try:
        Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        where = f"byte {exc.start}, line {line}"
    except OSError:
        where = "unreadable"
    else:  # changed since it was read
        where = "when it was read"
    return EnvFileError(f"{shown} is not UTF-8 text ({where}): save it as UTF-8")


class Settings(BaseSettings):
    """Configuration from environment variables (names are the upper-case field names)."""

    #: A refused environment's error must not print the values it was given (secrets).
    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_nested_delimiter="__",
        hide_input_in_errors=True,
    )

    environment: Literal["development", "test", "production"] = "development"
    service_role: ServiceRole = "all"
    enable_schedulers: bool = True

    # Empty means "embedded": a SQLite file under var_dir and an in-process broker.
    database_url: str = ""
    #: The URL migrations run with (the tables' owner); empty means DATABASE_URL. With it,
    #: DATABASE_URL may name a role that owns nothing (``switchboard db grant-app-role``).
    migration_database_url: str = ""
    amqp_url: str = ""
    var_dir: Path = Path("var")

    # 127.0.0.1, what `switchboard run` binds and derives: a URL signed for "localhost" is
    # another URL to Twilio's signature, and localhost may resolve to ::1 first.
    public_base_url: str = "http://127.0.0.1:8001"
    api_base_url: str = "http://127.0.0.1:8000"
    #: The API's address as Twilio sees it (signed webhook URLs); empty means API_BASE_URL.
    api_public_base_url: str = ""

    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = _DEV_SECRETS["TWILIO_AUTH_TOKEN"]
    twilio_api_base_url: str = "https://api.twilio.com"
    #: ``twilio`` or ``sandbox`` (a built-in stand-in for Twilio, docs/sandbox.md); empty: the
    #: sandbox when embedded or on the development token, unless TWILIO_API_BASE_URL is moved.
    telephony: Literal["", "twilio", "sandbox"] = ""
    #: An outbound dial Twilio refuses for now (429, 5xx) is tried again this many times,
    #: after pauses doubling from TWILIO_DIAL_BACKOFF_S (at most 5 s), then the lead fails.
    twilio_dial_retries: int = Field(default=3, ge=0)
    twilio_dial_backoff_s: float = Field(default=1.0, gt=0)
    #: A WhatsApp send whose attempt died or heard nothing back is looked up at Twilio first;
    #: one not found there is sent again only this long after that attempt began, the time
    #: Twilio is given to list the message (docs/reliability.md).
    whatsapp_send_lookup_window_s: float = Field(default=60.0, gt=0)
    #: A call with no event for its business's longest call (``max_call_seconds``, where the
    #: gateway hangs up) plus this long is ended by the stale-call sweep: its gateway died or
    #: its end was lost (docs/reliability.md).
    call_end_grace_s: float = Field(default=300.0, gt=0)

    openai_api_key: str = ""
    openai_base_url: str = "https://api.openai.com/v1"
    #: The phone agent's provider unless a business's agent settings name another:
    #: ``openai``, ``gemini`` or ``offline``; empty: OpenAI when OPENAI_API_KEY is set, else
    #: the offline agent.
    ai_provider: Literal["", "openai", "gemini", "offline"] = ""
    #: Gemini Live (the Gemini API, not Vertex AI); the library talks to it over ``wss://``.
    gemini_api_key: str = ""
    gemini_base_url: str = "https://generativelanguage.googleapis.com"

    admin_api_key: str = _DEV_SECRETS["ADMIN_API_KEY"]
    internal_api_token: str = _DEV_SECRETS["INTERNAL_API_TOKEN"]
    media_token_secret: str = _DEV_SECRETS["MEDIA_TOKEN_SECRET"]
    session_secret: str = _DEV_SECRETS["SESSION_SECRET"]
    #: When set, every service's ``/metrics`` answers only ``Authorization: Bearer`` this
    #: (401 otherwise); empty: open, for a Prometheus on a private network (metrics_access.py).
    metrics_token: str = ""

    # Jobs.
    db_app_role: str = "switchboard_app"
    job_min_backoff_ms: int = Field(default=1000, ge=1)
    job_max_backoff_ms: int = Field(default=300_000, ge=1)
    #: A job whose executions died with their worker this many times is dead-lettered at its
    #: next delivery (a catalog entry's ``max_unfinished`` overrides it).
    job_max_unfinished_deliveries: int = Field(default=3, ge=1)
    #: Drills and tests: the age limit sees every message as this many seconds older
    #: (``900`` plays a 15-minute outage). Only time-bound jobs (an entry's ``ttl_s``) expire.
    job_age_offset_s: float = Field(default=0.0, ge=0)
    #: Finished jobs' ledger rows are deleted this many days after they finished.
    job_retention_days: float = Field(default=14.0, gt=0)
    #: How often a worker process writes its ``worker_heartbeats`` row.
    worker_heartbeat_interval_s: float = Field(default=5.0, gt=0)
    #: A worker whose heartbeat is older than this is presumed dead: a job it was running is
    #: taken over by the worker its message reaches next. Until then, that worker requeues it.
    worker_stale_after_s: float = Field(default=30.0, gt=0)
    #: Where ``switchboard worker`` serves ``/health`` and ``/metrics`` for all its processes
    #: (``--metrics-port``); 0 serves nothing.
    worker_metrics_port: int = Field(default=8003, ge=0, le=65535)
    #: Fair share between businesses (docs/architecture.md, "Fair share"): at most this many
    #: of one business's jobs execute at once in a queue, across all workers; the others wait
    #: parked in the ledger, holding no worker thread, and are published again as the
    #: business's slots free, so businesses' jobs alternate in a queue. A business's own
    #: limits (``businesses.job_concurrency``, set by an admin through the API) come first,
    #: then JOB_BUSINESS_CONCURRENCY_BY_QUEUE ("analysis=2"), then this.
    #: JOB_FAIR_SHARE=false: plain arrival order, no limit (PostgreSQL only; embedded: off).
    job_fair_share: bool = True
    job_business_concurrency: int = Field(default=4, ge=1, le=10_000)
    #: ``analysis=2,whatsapp=8``: a queue's own default limit.
    job_business_concurrency_by_queue: str = ""
    #: A slot reserved for a parked job published again is freed if the job has not started
    #: this long after (its publisher died first): the job is parked again, and woken again.
    job_slot_reservation_s: float = Field(default=60.0, gt=0)
    #: ``/metrics`` names this many businesses per queue (the most jobs waiting); the rest
    #: are summed as ``business="other"``.
    metrics_top_businesses: int = Field(default=10, ge=0, le=1000)
    outbox_relay_interval_s: float = Field(default=1.0, gt=0)
    outbox_relay_min_age_s: float = Field(default=2.0, ge=0)
    #: Connections of the API's asyncio pool for the WhatsApp webhook (PostgreSQL only).
    whatsapp_db_pool_size: int = Field(default=8, ge=1)
    #: The largest request body the API reads (JSON, a form), in bytes; a larger one is a
    #: 413, answered before it is read when its Content-Length says so.
    api_max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1)
    #: The same for a file upload (multipart/form-data: a CSV of leads, 5 MB at most).
    api_max_upload_bytes: int = Field(default=6 * 1024 * 1024, ge=1)
    #: How long the API waits for a request body's next bytes before a 408 (per read).
    api_body_read_timeout_s: float = Field(default=30.0, gt=0)
    # Integrations (outside services; each has a local fake in the tests).
    integration_timeout_s: float = Field(default=15.0, gt=0)
    openai_text_model: str = "gpt-4o-mini"
    openai_transcribe_model: str = "whisper-1"
    #: Comma-separated hosts, IPs and CIDRs outgoing webhooks may reach although private.
    webhook_allowlist: str = ""
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    #: PEM or base64url DER/raw; empty means a dev key under var_dir (refused in production).
    vapid_private_key: str = ""
    #: The VAPID ``sub``: a contact push services accept (RFC 8292), checked at start, since
    #: with any other every push would fail.
    vapid_subject: str = Field(
        default="mailto:ops@switchboard.local", pattern=r"^(mailto:[^@\s]+@[^@\s]+|https://\S+)$"
    )
    #: Where recordings are stored; default var_dir / "recordings".
    recordings_dir: Path | None = None
    #: The largest recording the worker downloads, in bytes; a larger one is refused (status
    #: ``too_large``) before or while it streams in. 128 MiB holds an hour of Twilio's
    #: dual-channel WAV (115 MB) with room; it may be lowered, not raised past what the
    #: recording job's time limit covers (``PROCESS_RECORDING`` in ``jobs/catalog.py``).
    recording_max_bytes: int = Field(default=128 * 1024 * 1024, ge=1, le=128 * 1024 * 1024)

    log_level: str = "INFO"
    log_json: bool = False

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        problems = self.secret_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def secret_problems(self) -> list[str]:
        """One line per secret unfit for this environment: outside development, one left at
        its development default; in production, also one empty or too short."""
        if self.environment == "development":
            return []
        production = self.environment == "production"
        problems = []
        for env_name, default in _DEV_SECRETS.items():
            value = getattr(self, env_name.lower()).strip()
            if value == default:
                problems.append(f"{env_name}: not set (still its development default)")
            elif production and not value:
                problems.append(f"{env_name}: empty (at least {MIN_SECRET_LENGTH} characters)")
            elif production and len(value) < MIN_SECRET_LENGTH:
                problems.append(
                    f"{env_name}: too short ({len(value)} characters, "
                    f"at least {MIN_SECRET_LENGTH} needed)"
                )
        vapid = self.vapid_private_key.strip()
        if production and not vapid:
            problems.append("VAPID_PRIVATE_KEY: not set (Web Push needs the server's P-256 key)")
        elif production and len(vapid) < _MIN_VAPID_KEY_LENGTH:
            problems.append("VAPID_PRIVATE_KEY: too short to be a P-256 private key")
        key_of = {"openai": self.openai_api_key, "gemini": self.gemini_api_key}
        if production and self.ai_provider in key_of and not key_of[self.ai_provider].strip():
            # In development the gateway falls back to another provider with a warning.
            problems.append(
                f"AI_PROVIDER={self.ai_provider}: {self.ai_provider.upper()}_API_KEY is empty"
            )
        return problems

    @property
    def business_concurrency_by_queue(self) -> dict[str, int]:
        """JOB_BUSINESS_CONCURRENCY_BY_QUEUE as queue → limit."""
        limits: dict[str, int] = {}
        for item in filter(
            None, (part.strip() for part in self.job_business_concurrency_by_queue.split(","))
        ):
            queue, _, limit = item.partition("=")
            limits[queue.strip()] = int(limit)
        return limits

    @model_validator(mode="after")
    def _limits_by_queue_parse(self) -> Settings:
        try:
            bad = [
                q for q, limit in self.business_concurrency_by_queue.items() if not q or limit < 1
            ]
        except ValueError:
            bad = ["?"]
        if bad:
            raise ValueError(
                "JOB_BUSINESS_CONCURRENCY_BY_QUEUE: expected queue=limit pairs separated by "
                "commas, each limit at least 1 (analysis=2,whatsapp=8)"
            )
        return self

    @model_validator(mode="after")
    def _urls_name_what_they_connect_to(self) -> Settings:
        """DATABASE_URL, MIGRATION_DATABASE_URL and AMQP_URL: a URL of the server each names
        (:data:`_URL_SCHEMES`), else every command and service would end in a traceback (a
        driver not installed, a URL not parsed). The message shows the scheme at most: the
        URL carries a password."""
        problems = []
        for env_name, (schemes, expected) in _URL_SCHEMES.items():
            url = getattr(self, env_name.lower()).strip()
            scheme, separator, _ = url.partition("://")
            if not url or scheme.lower() in schemes:
                continue
            if separator and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,30}", scheme):
                problems.append(f"{env_name}: {scheme}:// is not {expected}")
            else:
                problems.append(f"{env_name}: not a URL of {expected}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _stale_after_outlasts_beats(self) -> Settings:
        if self.worker_stale_after_s < 2 * self.worker_heartbeat_interval_s:
            raise ValueError(
                "WORKER_STALE_AFTER_S must be at least twice WORKER_HEARTBEAT_INTERVAL_S, or a "
                "live worker's jobs would be taken over between two of its beats"
            )
        return self

    def urls_for_ports(self, host: str, ports: Mapping[str, int]) -> dict[str, str]:
        """The service URLs implied by serving the roles of ``ports`` on ``host``, as environment
        variables (``{"PUBLIC_BASE_URL": "http://127.0.0.1:9101", …}``), leaving out those the
        environment or ``.env`` sets: an explicit URL (a tunnel, a proxy) always wins.
        API_PUBLIC_BASE_URL follows API_BASE_URL unless set."""
        reachable = reachable_host(host)
        return {
            name.upper(): f"http://{reachable}:{ports[role]}"
            for name, role in _SERVICE_URLS.items()
            if role in ports and name not in self.model_fields_set
        }

    @property
    def embedded(self) -> bool:
        """True when no external database or broker is configured (laptop mode)."""
        return not self.database_url and not self.amqp_url

    @property
    def embedded_database_path(self) -> Path:
        """The SQLite file used when no ``DATABASE_URL`` is set."""
        return self.var_dir / "switchboard.db"

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL to use, with the psycopg 3 driver for PostgreSQL."""
        url = self.database_url or f"sqlite:///{self.embedded_database_path.resolve()}"
        return _with_psycopg(url)

    @property
    def effective_migration_database_url(self) -> str:
        """The SQLAlchemy URL migrations run with: MIGRATION_DATABASE_URL, else the app's."""
        if self.migration_database_url:
            return _with_psycopg(self.migration_database_url)
        return self.effective_database_url


def reachable_host(host: str) -> str:
    """The host to reach a server bound to ``host`` (all interfaces: this machine's loopback)."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - a bind address, not one we bind to
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _with_psycopg(url: str) -> str:
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def describe_invalid_settings(error: ValidationError) -> list[str]:
    """The problems of a refused environment, one line each, for a start-up message."""
    lines: list[str] = []
    for problem in error.errors():
        cause = (problem.get("ctx") or {}).get("error")
        if not problem["loc"] and isinstance(cause, ValueError):
            lines.extend(str(cause).splitlines())
        else:
            name = ".".join(str(part) for part in problem["loc"]).upper() or "settings"
            lines.append(f"{name}: {problem['msg']}")
    return lines


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once; an
    :class:`EnvFileError` if ``.env`` is not UTF-8 (python-dotenv's traceback before)."""
    try:
        return Settings()
    except UnicodeDecodeError:
        raise env_file_not_utf8() from None
