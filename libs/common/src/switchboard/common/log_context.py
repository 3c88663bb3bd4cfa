"""The fields a log line carries for the work it belongs to.

structlog's context variables (a request's ``request_id``, a call's ``call_sid``, bound by
:func:`correlated`), and the fields of the enclosing :func:`log_scope`, which code running in a
worker thread for that work (FastAPI's thread pool) can still add to (:func:`bind_in_scope`);
``logging.configure_logging`` puts :func:`merge_scope` among the processors. Context managers
are classes here: these run on every request and job, and a generator's costs ~3 µs.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any

import structlog

#: The fields of the innermost ``log_scope``: one dict, shared by every copy of the context
#: (a thread pool's included), so a field bound in a worker thread reaches the scope's lines.
_scope: ContextVar[dict[str, Any] | None] = ContextVar("switchboard_log_scope", default=None)


class _Scope:
    """:func:`log_scope`'s context manager (a class: a generator's costs ~3 µs a request)."""

    __slots__ = ("_fields", "_token")

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __enter__(self) -> dict[str, Any]:
        bound = {**(_scope.get() or {}), **self._fields}
        self._token = _scope.set(bound)
        return bound

    def __exit__(self, *_: object) -> None:
        _scope.reset(self._token)


def log_scope(**fields: Any) -> AbstractContextManager[dict[str, Any]]:
    """Every line logged inside carries ``fields`` and whatever ``bind_in_scope`` adds later."""
    return _Scope(fields)


def bind_in_scope(**fields: Any) -> None:
    """Add ``fields`` to the enclosing ``log_scope``, even from a thread it handed work to
    (an API key's business, learnt in FastAPI's thread pool); outside any scope, nothing."""
    bound = _scope.get()
    if bound is not None:
        bound.update(fields)


#: The fields that say what a piece of work serves, across processes: an HTTP request's id (bound
#: by ``http_observability``), a call's sid (bound by :func:`correlated` where a call event is
#: followed up). ``prepare_job`` writes the bound ones into every job it builds, and the worker
#: binds them to the job's lines: a request or a call is followed through the jobs it causes,
#: and the jobs those enqueue.
CORRELATION_FIELDS = ("request_id", "call_sid")


def correlation_fields() -> dict[str, str]:
    """The :data:`CORRELATION_FIELDS` bound for the work at hand (the enclosing scope's first)."""
    bound = {**structlog.contextvars.get_contextvars(), **(_scope.get() or {})}
    return {name: bound[name] for name in CORRELATION_FIELDS if isinstance(bound.get(name), str)}


class _Correlated:
    """:func:`correlated`'s context manager: structlog's context variables set on entry and
    reset to what they were on exit, by their tokens. (structlog's ``bound_contextvars`` reads
    every context variable to save the ones it overwrites: ~14 µs, a webhook's 3 %.)"""

    __slots__ = ("_fields", "_tokens")

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields

    def __enter__(self) -> None:
        self._tokens = structlog.contextvars.bind_contextvars(**self._fields)

    def __exit__(self, *_: object) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)


def correlated(**fields: str | None) -> AbstractContextManager[None]:
    """Every line logged inside, and every job enqueued inside, carries ``fields`` (those not
    None): ``with correlated(call_sid=event.call_sid):``."""
    return _Correlated({name: value for name, value in fields.items() if value is not None})


def merge_scope(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the enclosing :func:`log_scope`'s fields, unless the line has them."""
    bound = _scope.get()
    if bound:
        for key, value in bound.items():
            event.setdefault(key, value)
    return event
