"""Values written into a statement's text rather than passed as parameters.

A pooled connection prepares a statement it has run five times, and PostgreSQL may then keep
one generic plan for it, made without the parameters' values: ``status = $1`` is guessed to
match a share of the table, ``created_at < $1`` a third of it. For the scheduler's periodic
queries, which look for the few rows due among a year of finished ones, such a guess picks a
scan. A value written into the text is seen by every plan, generic or not, with the column's
statistics: a rare status, a recent bound. A moving bound also makes the text new each time,
so such a statement is planned for its values every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, bindparam
from sqlalchemy.types import TypeEngine


def inline(name: str, value: Any, type_: TypeEngine[Any] | None = None) -> BindParameter[Any]:
    """``value``, written into the statement (``type_`` renders it: a column's type)."""
    return bindparam(name, value, type_=type_, literal_execute=True)


def inline_list(name: str, values: Sequence[Any]) -> BindParameter[Any]:
    """``values`` for an ``IN``, written into the statement."""
    return bindparam(name, list(values), expanding=True, literal_execute=True)
