"""Structured logs, with secrets and personal data kept out of every line.

Every line a process writes goes through ``scrub`` (``redaction.py``): our structlog events
(field by field, tracebacks included), and every stdlib record — Dramatiq's, uvicorn's,
SQLAlchemy's, asyncio's — through a log record factory, so it holds for loggers that do not
propagate to the root logger and for handlers a library configures after us (uvicorn's
``dictConfig``). A record's arguments are scrubbed when formatted, its traceback when it is
made; a Dramatiq message among them shows its actor and id, never its arguments, and
Dramatiq's traceback for a failed job becomes one line (the ledger keeps the traceback). Uncaught
exceptions (main thread and threads) are printed scrubbed too.

Library records are rendered by the same processors as our events (structlog's
``ProcessorFormatter`` on the root logger), so with ``LOG_JSON=true`` every line is one JSON
object, uvicorn's, Dramatiq's, Alembic's, aio-pika's and httpx's included. Every line also
carries the fields bound for the work it belongs to: structlog's context variables (a
request's ``request_id``, a job's ``job_id``, ``actor``, ``business_id``, a call's
``call_sid``) and the fields of the enclosing :func:`log_scope`, which code running in a
worker thread for that work (FastAPI's thread pool) can still add to (``bind_in_scope``).
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from types import TracebackType
from typing import Any, TextIO

import structlog

from switchboard.common.broker_outage import BrokerOutageLines
from switchboard.common.invalid_requests import install_invalid_request_lines
from switchboard.common.log_context import (
    CORRELATION_FIELDS,
    bind_in_scope,
    correlated,
    correlation_fields,
    log_scope,
    merge_scope,
)
from switchboard.common.redaction import redact, scrub, scrub_field, scrub_value

__all__ = [
    "bind_in_scope",
    "CORRELATION_FIELDS",
    "configure_logging",
    "correlated",
    "correlation_fields",
    "get_logger",
    "install_record_scrubbing",
    "log_scope",
    "record_argument",
    "redact",
    "scrub",
]

#: structlog's own fields, left as they are.
_EVENT_KEYS = frozenset({"event", "level", "timestamp", "logger"})
_formatter = logging.Formatter()


def _format_exception(exc_info: Any) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or exc_info[0] is None:
        return None
    return "".join(traceback.format_exception(*exc_info)).rstrip("\n")


def _exception_as_text(
    _: Any, __: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A traceback as an ``exception`` string, so that it is scrubbed like any field."""
    exc_info = event.pop("exc_info", None)
    text = _format_exception(exc_info) if exc_info else None
    if text:
        event["exception"] = text
    return event


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key in _EVENT_KEYS:
            if isinstance(value, str):
                event[key] = scrub(value)
        else:
            event[key] = scrub_field(key, value)
    return event


class _Scrubbed:
    """A log record's argument, scrubbed whenever it is formatted (``%s`` and ``%r`` alike)."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def _describe(self, describe: Callable[[Any], str]) -> str:
        value = self._value
        actor, message_id = getattr(value, "actor_name", None), getattr(value, "message_id", None)
        if type(value).__module__.startswith("dramatiq") and actor and message_id:
            # A Dramatiq message prints its arguments: say which job it is instead.
            return f"{actor}(message_id={message_id})"
        if isinstance(value, str | Mapping | list | tuple | set | frozenset):
            return describe(scrub_value(value, describe))
        return scrub(describe(value))

    def __str__(self) -> str:
        return self._describe(str)

    def __repr__(self) -> str:
        return self._describe(repr)


def record_argument(value: Any) -> Any:
    """A stdlib record's argument as it was logged, before :func:`install_record_scrubbing`
    wrapped it (for filters that look at what a library logged, never to print it)."""
    return value._value if isinstance(value, _Scrubbed) else value


def _scrub_argument(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value  # ``%d`` and ``%f`` still work
    return _Scrubbed(value)


#: Dramatiq's line for a job whose actor raised, retried or not.
_JOB_FAILURE_LOGGER = "dramatiq.worker.WorkerThread"
_JOB_FAILURE_PREFIX = "Failed to process message"


def _shorten_job_failure(record: logging.LogRecord) -> None:
    """Dramatiq's traceback for a failed job, made one line at WARNING.

    A job that fails is retried (a webhook to an endpoint that is down fails a dozen times a
    minute), and each failure would print a full traceback at ERROR. The ledger middleware
    logs ``job.failed`` with the error, and the job's row keeps the scrubbed traceback
    (``jobs.last_traceback``), so the line only has to say which job failed and with what.
    """
    exc_info = record.exc_info
    if not (
        record.name == _JOB_FAILURE_LOGGER
        and isinstance(record.msg, str)
        and record.msg.startswith(_JOB_FAILURE_PREFIX)
        and isinstance(record.args, tuple)
        and isinstance(exc_info, tuple)
        and exc_info[1] is not None
    ):
        return
    error = exc_info[1]
    record.msg = f"{record.msg.rstrip('.')}: %s"
    record.args = (*record.args, f"{type(error).__name__}: {error}")
    record.exc_info = None
    record.exc_text = None
    record.levelno = logging.WARNING
    record.levelname = logging.getLevelName(logging.WARNING)


def _scrub_record(record: logging.LogRecord) -> None:
    _shorten_job_failure(record)
    args = record.args
    if args:
        if isinstance(args, tuple):
            record.args = tuple(_scrub_argument(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _scrub_argument(arg) for key, arg in args.items()}
    elif isinstance(record.msg, str):
        record.msg = scrub(record.msg)
    else:
        record.msg = _Scrubbed(record.msg)
    if record.exc_info and not record.exc_text:
        # Formatters use a record's ``exc_text`` when it has one.
        record.exc_text = scrub(_formatter.formatException(record.exc_info))


def install_record_scrubbing() -> None:
    """Scrub every stdlib log record this process makes, whichever logger makes it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "scrubs", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub_record(record)
        return record

    factory.scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _print_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    # A structlog event, so that it is one JSON line too (``exception`` scrubbed like any field).
    structlog.get_logger("switchboard.uncaught").critical(
        "uncaught_exception", exc_info=(exc_type, exc, tb)
    )


def _print_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if issubclass(args.exc_type, SystemExit) or args.exc_value is None:
        return
    structlog.get_logger("switchboard.uncaught").critical(
        "uncaught_exception",
        thread=args.thread.name if args.thread is not None else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


class _StderrLogger(structlog.PrintLogger):
    """Writes to whatever ``sys.stderr`` is now (test runners swap it), not the one at setup."""

    def msg(self, message: str) -> None:
        # One write per line: Dramatiq's worker processes write to a pipe that sends each
        # write on its own, and ``print`` writes the newline apart, between other threads'.
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = err = msg


def _stderr_logger_factory(*_: Any) -> _StderrLogger:
    return _StderrLogger()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root logger's handler: like ``_StderrLogger``, the ``sys.stderr`` of the moment
    (Dramatiq's worker processes point it at their logging pipe after we configured)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def _processors(json: bool) -> tuple[list[Any], Any]:
    """The processors every line goes through, and the renderer that ends them."""
    shared: list[Any] = [
        # The scope first: its fields then count as the event's own, which structlog's
        # context variables (bound further out, or left by a thread's earlier work) yield to.
        merge_scope,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    return shared, renderer


def _one_line_message(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A library's message on one line: Alembic's "Running upgrade …" carries a migration's
    docstring, line breaks and all, and each of its lines after the first came out as a line of
    its own without time, level or logger. (A traceback is the ``exception`` field, apart.)"""
    message = event.get("event")
    if isinstance(message, str) and "\n" in message:
        event["event"] = " ".join(message.split())
    return event


def _library_handler(json: bool) -> logging.Handler:
    """A handler that renders stdlib records (libraries') through our processors."""
    shared, renderer = _processors(json)
    handler = _StderrHandler()
    handler.switchboard = True  # type: ignore[attr-defined]
    # A broker out of reach: one line, then one per growing interval (``broker_outage.py``).
    handler.addFilter(BrokerOutageLines())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _one_line_message,
                _exception_as_text,
                _redact_event,
                renderer,
            ],
        )
    )
    return handler


#: Libraries that narrate routine steps at INFO: pika logs each connection's socket, transport
#: and channel (some 700 lines for a worker's burst of jobs on PostgreSQL and RabbitMQ);
#: Alembic 1.18 one "setup plugin …" line per built-in plugin when it is first imported
#: (seven lines at the top of every ``make run`` and ``migrate``, before its useful ones).
CHATTY_LIBRARIES = ("pika", "alembic.runtime.plugins")


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    """Route stdlib and structlog output through one scrubbing renderer on stderr.

    Our events go straight to the renderer; every stdlib record (libraries' loggers) reaches
    the root logger's one handler, which renders it with the same processors. Loggers a
    library gives handlers of its own (uvicorn's, unless ``log_config=None``) keep them,
    scrubbed all the same by the record factory.
    """
    shared, renderer = _processors(json)
    structlog.configure(
        processors=[*shared, _exception_as_text, _redact_event, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger_factory,
        # Not cached: a module's logger used once would keep the level and output of the
        # configuration it met first (a command run before ``run`` reconfigures, tests
        # reconfigure); building it per call costs microseconds.
        cache_logger_on_first_use=False,
    )
    install_record_scrubbing()
    sys.excepthook = _print_uncaught
    threading.excepthook = _print_uncaught_in_thread
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "switchboard", False)]:
        root.removeHandler(handler)  # configured again (tests, ``run`` after a command)
    root.addHandler(_library_handler(json))
    root.setLevel(level.upper())
    for name in CHATTY_LIBRARIES:  # their steps at DEBUG only; warnings and errors always
        logging.getLogger(name).setLevel(
            logging.WARNING if root.level > logging.DEBUG else logging.NOTSET
        )
    logging.captureWarnings(True)  # ``warnings`` become records, rendered like the rest
    install_invalid_request_lines()  # uvicorn's warning per malformed request: counted lines


class ModuleLogger:
    """A module's structlog logger, bound once per logging configuration.

    structlog's lazy proxy (``structlog.get_logger``) binds a new logger at every call: ~7 µs
    here, even for a line its level filters out, and a webhook or a job logs several. Its
    ``cache_logger_on_first_use`` would keep the configuration a module's logger first met
    (a command configures logging again before ``run``; tests capture and reconfigure). This
    one binds again whenever ``structlog.configure`` has changed what a logger is built from
    (reading the configuration costs ~0.4 µs); the configuration's processors list is shared,
    so a capture that edits it in place reaches the logger already bound.
    """

    __slots__ = ("_name", "_cache")

    def __init__(self, name: str) -> None:
        self._name = name
        # (configuration key, bound logger), replaced as one: threads share module loggers.
        self._cache: tuple[tuple[Any, ...], Any] | None = None

    def _bound(self) -> Any:
        config = structlog.get_config()
        key = (
            config["wrapper_class"],
            id(config["processors"]),
            config["logger_factory"],
            config["context_class"],
        )
        cache = self._cache
        if cache is None or cache[0] != key:
            cache = self._cache = (key, structlog.get_logger(self._name).bind())
        return cache[1]

    # The methods in use, defined here: reaching them through ``__getattr__`` alone would cost
    # a failed attribute lookup per call (an exception raised and caught, ~3 µs).
    def debug(self, event: str, **fields: Any) -> Any:
        return self._bound().debug(event, **fields)

    def info(self, event: str, **fields: Any) -> Any:
        return self._bound().info(event, **fields)

    def warning(self, event: str, **fields: Any) -> Any:
        return self._bound().warning(event, **fields)

    def error(self, event: str, **fields: Any) -> Any:
        return self._bound().error(event, **fields)

    def exception(self, event: str, **fields: Any) -> Any:
        return self._bound().exception(event, **fields)

    def critical(self, event: str, **fields: Any) -> Any:
        return self._bound().critical(event, **fields)

    def bind(self, **fields: Any) -> Any:
        return self._bound().bind(**fields)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._bound(), attribute)


def get_logger(name: str) -> Any:
    """A structlog logger bound to a module name (:class:`ModuleLogger`)."""
    return ModuleLogger(name)
