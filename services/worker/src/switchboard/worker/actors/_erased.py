"""A job queued for a row an erasure has since deleted: its work is no longer owed.

Such a job finds its row gone (``NotFoundError``). Failed, it would show on the dashboard and
in alerting though nothing went wrong; so it ends as done instead, with one line at info
naming only ids and the reason. Only when the erasure's record of the row says so
(``domain/erasures/erased_rows.py``): a row gone with no such record is a bug, and its job
still fails.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from switchboard.common.errors import NotFoundError
from switchboard.common.logging import get_logger
from switchboard.domain.erasures.erased_rows import was_erased

log = get_logger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def unless_erased(**named: type[Any]) -> Callable[[F], F]:
    """Wrap an actor's function whose keyword argument names a row by id
    (``call_log_id=CallLog``; of several, the first the call gives): a ``NotFoundError`` it
    raises ends the job as done if an erasure deleted that row, and is raised otherwise."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except NotFoundError:
                erased = _erased_row(kwargs, named)
                if erased is None:
                    raise
                table, row_id = erased
                log.info(
                    "job.not_owed",
                    business_id=kwargs["business_id"],
                    table=table,
                    row_id=row_id,
                    reason="erased",
                )
                return None

        return run  # type: ignore[return-value]

    return decorate


def _erased_row(kwargs: dict[str, Any], named: dict[str, type[Any]]) -> tuple[str, int] | None:
    """The table and id of the row the job names, if an erasure deleted it."""
    business_id = kwargs.get("business_id")
    for argument, model in named.items():
        row_id = kwargs.get(argument)
        if row_id is None:
            continue
        table = str(model.__tablename__)
        if isinstance(business_id, int) and was_erased(business_id, table, row_id):
            return table, row_id
        return None
    return None
