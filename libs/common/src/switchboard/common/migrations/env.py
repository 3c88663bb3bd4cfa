"""Alembic environment: runs against the connection :mod:`switchboard.common.migrate` hands in."""

from __future__ import annotations

from alembic import context

import switchboard.common.models  # noqa: F401 - registers every table on the metadata
from switchboard.common.db.base import Base

connection = context.config.attributes["connection"]
#: The revisions run so far, so that a failure names the script after the last (migrate.py).
applied: list[str | None] = context.config.attributes.setdefault("applied", [])
context.configure(
    connection=connection,
    on_version_apply=lambda ctx, step, heads, run_args: applied.append(step.up_revision_id),
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
