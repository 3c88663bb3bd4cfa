"""Structured logging, with secrets and message bodies kept out of every line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

#: (pattern, replacement) pairs; a replacement keeps the label and masks the value.
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-***"),
    (re.compile(r"\bsbk_[A-Za-z0-9_-]{8,}"), "sbk_***"),
    (
        re.compile(
            r"(?i)((?:password|passwd|token|secret|api_key|apikey|auth)[\"']?\s*[=:]\s*[\"']?)[^\s\"',&]+"
        ),
        r"\1***",
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)"), r"\1***\2"),
]
_SENSITIVE_KEYS = {"password", "token", "secret", "api_key", "authorization", "body", "auth_token"}


def redact(text: str) -> str:
    """Mask tokens, keys and URL passwords in free text (exception messages, URLs)."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key.lower() in _SENSITIVE_KEYS:
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = redact(value)
    return event


class _StderrLogger(structlog.PrintLogger):
    """Writes to whatever ``sys.stderr`` is now (test runners swap it), not the one at setup."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = err = msg


def _stderr_logger_factory(*_: Any) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    """Route stdlib and structlog output through one redacting renderer on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger_factory,
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )


def get_logger(name: str) -> Any:
    """A structlog logger bound to a module name."""
    return structlog.get_logger(name)
