"""RabbitMQ out of reach, said in one line, then at most one line per (growing) interval.

While RabbitMQ cannot be reached (nothing listens at ``AMQP_URL``, or it restarts), every
connection attempt of a process is logged by the libraries that make it: each of Dramatiq's
consumer threads (one per queue and its dead-letter queue, some two dozen per worker process)
says "Consumer encountered a connection error" at CRITICAL and "Restarting consumer in 3.00
seconds." every 3 s, and pika adds half a dozen lines and a traceback per attempt where its
level is not raised (``switchboard run``, the scheduler's outbox relay); aiormq and aio-pika
one each per attempt of the API's and the gateway's connections, and the outbox relay
``outbox.publish_failed`` per turn (every second). A worker that started while RabbitMQ was
down wrote some 13 lines a second, ``switchboard run`` some 200.

:class:`BrokerOutageLines`, a filter on the root logger's handler (``configure_logging``
installs it), drops those records and counts them as failed attempts of one outage per
process (:data:`OUTAGE`), which says instead:

* ``broker.unreachable`` (WARNING) at the first failed attempt: the broker's ``host:port``
  (never the URL's user or password), the error, and that the process keeps retrying;
* ``broker.still_unreachable`` (WARNING) at a failed attempt at least :data:`FIRST_INTERVAL_S`
  after the previous line, the interval doubling up to :data:`MAX_INTERVAL_S`: how long it has
  been out of reach and how many attempts failed;
* ``broker.reachable`` (INFO) when a connection opens again (a consumer connects, the outbox
  publishes: :func:`broker_reachable`), with the outage's length and failed attempts.

Nothing else changes: the consumers retry as before and consume again once the broker is back.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import structlog

__all__ = [
    "FIRST_INTERVAL_S",
    "MAX_INTERVAL_S",
    "OUTAGE",
    "BrokerOutage",
    "BrokerOutageLines",
    "broker_reachable",
    "broker_unreachable",
    "is_connection_error",
]

#: The shortest time between two lines of one outage; each next one is twice as long.
FIRST_INTERVAL_S = 3.0
#: The longest time between two lines of one outage.
MAX_INTERVAL_S = 30.0
#: A failed attempt this long after the previous one starts a new outage (a process that
#: never learns of the reconnection, the API's publisher say, says ``broker.unreachable``
#: again rather than "still", for an outage that ended long ago).
NEW_OUTAGE_AFTER_S = 2 * MAX_INTERVAL_S

#: Dramatiq's consumer threads log as ``dramatiq.worker.ConsumerThread(<queue>)``.
_CONSUMER_LOGGER = "dramatiq.worker.ConsumerThread("
_CONSUMER_CONNECTION_ERROR = "Consumer encountered a connection error: %s"
_CONSUMER_RESTARTING = "Restarting consumer in %0.2f seconds."
#: Dramatiq's consumer closing a connection the broker dropped (a RabbitMQ restart).
_CONSUMER_CLOSE_FAILED = "Failed to wait for all callbacks to complete."
#: pika's connection-level loggers (not ``pika.channel``: a channel refused is no outage).
_PIKA_CONNECTION_LOGGERS = ("pika.adapters.", "pika.connection")
#: aiormq's line per failed connection attempt (aio-pika: the API, the gateway).
_AIORMQ_LOGGER = "aiormq.connection"
_AIORMQ_TRANSPORT_ERROR = "error when creating transport"

#: aio-pika's robust connection, once per reconnection attempt (the API's call-event consumer).
_AIO_PIKA_LOGGER = "aio_pika.robust_connection"
_AIO_PIKA_RECONNECTING = "Reconnecting after"

_ERRNO_ERROR = re.compile(r"\b(\w+Error)\(\d+, '([^']+)'\)")
_ERRNO_TEXT = re.compile(r"\[Errno \d+\] ([^'\"]+)")
_PIKA_ERRNO = re.compile(r"error=\d+ \(([^)]+)\)")
_AIORMQ_ERRNO = re.compile(r"\(\d+, \"([^\"]+)\"\)")
_URL = re.compile(r"\w+://\S+")


def _short_error(text: str) -> str:
    """The cause in a library's wording of a failed attempt: ``ConnectionRefusedError:
    Connection refused`` out of pika's nested exceptions' reprs; else the text without URLs,
    cut."""
    if found := _ERRNO_ERROR.search(text):
        return f"{found.group(1)}: {found.group(2)}"
    if found := _ERRNO_TEXT.search(text):
        return found.group(1).strip().rstrip(")")
    if found := _PIKA_ERRNO.search(text):
        return found.group(1)
    if found := _AIORMQ_ERRNO.search(text):
        return found.group(1)
    text = " ".join(_URL.sub("the broker", text).split())  # its address is a field apart
    return text[:200] or "connection failed"


def broker_address() -> str:
    """``host:port`` of ``AMQP_URL`` (with its virtual host when not the default): never its
    user or password."""
    try:
        from switchboard.common.settings import get_settings

        parts = urlsplit(get_settings().amqp_url)
        address = f"{parts.hostname or '?'}:{parts.port or 5672}"
    except Exception:  # settings unreadable here: still say what happens
        return "AMQP_URL"
    vhost = parts.path.lstrip("/")
    return f"{address}/{vhost}" if vhost else address


class BrokerOutage:
    """One process's view of whether RabbitMQ answers, and the lines that say so."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._last_failure = 0.0
        self._next_line_at = 0.0
        self._interval = FIRST_INTERVAL_S
        self._attempts = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, error: str) -> None:
        """A connection attempt failed (or a connection was lost) with ``error``."""
        now = self._clock()
        with self._lock:
            if self._down_since is not None and now - self._last_failure >= NEW_OUTAGE_AFTER_S:
                self._down_since = None  # the previous outage ended unseen
            self._last_failure = now
            if self._down_since is None:
                self._down_since, self._attempts = now, 1
                self._interval = FIRST_INTERVAL_S
                self._next_line_at = now + self._interval
                line: tuple[str, dict[str, object]] | None = ("broker.unreachable", {})
            elif now >= self._next_line_at:
                self._attempts += 1
                self._interval = min(self._interval * 2, MAX_INTERVAL_S)
                self._next_line_at = now + self._interval
                line = (
                    "broker.still_unreachable",
                    {"for_s": round(now - self._down_since, 1), "failed_attempts": self._attempts},
                )
            else:
                self._attempts += 1
                line = None
            interval = self._interval
        if line is not None:
            event, fields = line
            _log().warning(
                event,
                broker=broker_address(),
                error=_short_error(error),
                retrying=True,
                next_report_in_s=interval,
                **fields,
            )

    def reachable(self) -> None:
        """A connection opened: says so if the broker was out of reach."""
        if self._down_since is None:  # the usual case, without the lock
            return
        now = self._clock()
        with self._lock:
            if self._down_since is None:
                return
            since, attempts = self._down_since, self._attempts
            self._down_since = None
        _log().info(
            "broker.reachable",
            broker=broker_address(),
            after_s=round(now - since, 1),
            failed_attempts=attempts,
        )


def _log() -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger("switchboard.broker")  # type: ignore[no-any-return]


#: This process's outage (one per process: its consumers, publishers and relays share it).
OUTAGE = BrokerOutage()


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` says the connection to the broker failed or was lost (what a publish
    raises while the broker is away), as opposed to a message it returned or a channel error."""
    import pika.exceptions
    from dramatiq.errors import BrokerConnectionError

    connection = (
        BrokerConnectionError,  # Dramatiq's wrapping of pika's (``ConnectionClosed``)
        pika.exceptions.AMQPConnectionError,
        pika.exceptions.ConnectionWrongStateError,
        ConnectionError,
        TimeoutError,
    )
    return isinstance(error, connection)


def broker_unreachable(error: str) -> None:
    """Count a failed attempt of our own code (the outbox relay's publish) in the outage."""
    OUTAGE.failed(error)


def broker_reachable() -> None:
    """A connection to RabbitMQ opened (a consumer started, a publish went out)."""
    OUTAGE.reachable()


class BrokerOutageLines(logging.Filter):
    """Drops the libraries' lines about a broker out of reach, counted in :data:`OUTAGE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        name, msg = record.name, record.msg
        if name.startswith(_CONSUMER_LOGGER):
            if msg == _CONSUMER_CONNECTION_ERROR:
                OUTAGE.failed(record.getMessage())
                return False
            if msg == _CONSUMER_RESTARTING:
                return not OUTAGE.down  # after an unexpected error, it still says so
            return True
        if name == _AIO_PIKA_LOGGER and _AIO_PIKA_RECONNECTING in str(msg):
            OUTAGE.failed(record.getMessage())
            return False
        if record.levelno < logging.WARNING:
            return True
        if name.startswith(_PIKA_CONNECTION_LOGGERS) or (
            name == _AIORMQ_LOGGER and str(msg).startswith(_AIORMQ_TRANSPORT_ERROR)
        ):
            OUTAGE.failed(record.getMessage())
            return False
        if name.startswith("dramatiq.brokers.rabbitmq") and str(msg).startswith(
            _CONSUMER_CLOSE_FAILED.rstrip(".")
        ):
            OUTAGE.failed(record.getMessage())
            return False
        return True
