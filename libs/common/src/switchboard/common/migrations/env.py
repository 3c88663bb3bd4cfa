"""Alembic environment: runs against the connection :mod:`switchboard.common.migrate` hands in."""

from __future__ import annotations

from alembic import context

import switchboard.common.models  # noqa: F401 - registers every table on the metadata
from switchboard.common.db.base import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
