"""Time arithmetic on the job ledger's timestamps, written once for both databases.

PostgreSQL and SQLite store and subtract timestamps differently; these two expressions give
the same numbers on both, so the queries that bucket jobs per minute or measure how long they
waited are written once (the way ``upsert`` keeps one insert for two dialects).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class MinuteOf(FunctionElement[int]):
    """The minute a timestamp falls in, as whole minutes since the Unix epoch."""

    type = Integer()
    inherit_cache = True
    name = "minute_of"


class SecondsBetween(FunctionElement[float]):
    """``later - earlier`` in seconds, with fractions."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(MinuteOf, "postgresql")
def _minute_of_postgresql(element: MinuteOf, compiler: Any, **kw: Any) -> str:
    moment = compiler.process(element.clauses, **kw)
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {moment}) / 60) AS BIGINT)"


@compiles(MinuteOf, "sqlite")
def _minute_of_sqlite(element: MinuteOf, compiler: Any, **kw: Any) -> str:
    # Stored times are UTC; integer division of positive seconds is the floor.
    moment = compiler.process(element.clauses, **kw)
    return f"(CAST(strftime('%s', {moment}) AS INTEGER) / 60)"


@compiles(SecondsBetween, "postgresql")
def _seconds_between_postgresql(element: SecondsBetween, compiler: Any, **kw: Any) -> str:
    earlier, later = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


@compiles(SecondsBetween, "sqlite")
def _seconds_between_sqlite(element: SecondsBetween, compiler: Any, **kw: Any) -> str:
    earlier, later = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
