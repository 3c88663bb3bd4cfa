"""How long a text a ``String(n)`` column holds, read from the model, so that what the API and
the webhooks accept is checked against the column itself (one number, never a copy of it)
before it reaches the database: PostgreSQL refuses a longer value with an error (a 500 had it
not been checked), where SQLite would have stored it whole."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String


def column_chars(column: Any) -> int:
    """The most characters ``column`` (a table's column, ``Model.__table__.c.name``) holds."""
    kind = column.type
    if not isinstance(kind, String) or kind.length is None:
        raise TypeError(f"{column} is not a String(n) column")
    return kind.length
