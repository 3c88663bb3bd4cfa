"""Tenant-scoped and system sessions.

Every query for a business's data runs inside :func:`tenant_session`. On PostgreSQL the
transaction switches to the unprivileged application role and records the business id in a
transaction-local setting that the row-level security policies read, so the database itself
refuses other tenants' rows even when ``DATABASE_URL`` names a superuser. The explicit
``business_id`` filters in the repositories stay as well: they are what protect SQLite.

:func:`system_session` is for infrastructure that works across tenants by design (API key
lookup, the outbox relay, the job ledger middleware, the scheduler's scans).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from switchboard.common.db.engine import get_engine
from switchboard.common.settings import get_settings

TENANT_SETTING = "switchboard.business_id"

_current: ContextVar[Session | None] = ContextVar("switchboard_session", default=None)


_factory: tuple[Engine, sessionmaker[Session]] | None = None


def _session_factory() -> sessionmaker[Session]:
    global _factory
    engine = get_engine()
    if _factory is None or _factory[0] is not engine:
        _factory = (engine, sessionmaker(bind=engine, expire_on_commit=False))
    return _factory[1]


@event.listens_for(Session, "after_begin")
def _apply_tenant(session: Session, _: SessionTransaction, connection: Any) -> None:
    # Runs at the start of every transaction, so a commit in the middle of a unit of work
    # cannot drop the tenant for the rest of it.
    business_id = session.info.get("business_id")
    if business_id is None or connection.dialect.name != "postgresql":
        return
    connection.execute(
        text("SELECT set_config('role', :role, true), set_config(:name, :bid, true)"),
        {"role": get_settings().db_app_role, "name": TENANT_SETTING, "bid": str(business_id)},
    )


#: What runs once a unit of work has committed: ``session.info`` key -> the callback that is
#: handed the list collected under that key (the job outbox registers one, ``jobs/outbox.py``).
_after_commit: dict[str, Callable[[list[Any]], object]] = {}


def after_commit(key: str, callback: Callable[[list[Any]], object]) -> None:
    """After each unit of work commits, call ``callback`` with what it collected under ``key``.

    Only units of work that :func:`collect` something under ``key`` call it; one that rolls
    back calls nothing.
    """
    _after_commit[key] = callback


def collect(session: Session, key: str, item: Any) -> None:
    """Keep ``item`` for ``key``'s :func:`after_commit` callback, run once ``session`` commits."""
    session.info.setdefault(key, []).append(item)


@contextmanager
def _unit_of_work(info: dict[str, Any]) -> Iterator[Session]:
    session = _session_factory()()
    session.info.update(info)
    token = _current.set(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        _current.reset(token)
        kept = session.info
        collected = [
            (call, items) for key, call in _after_commit.items() if (items := kept.pop(key, None))
        ]
        session.close()
    for call, items in collected:
        call(items)


@contextmanager
def tenant_session(business_id: int) -> Iterator[Session]:
    """A unit of work that can see and write only ``business_id``'s rows.

    Commits on success, rolls back on error; the :func:`after_commit` callbacks run after commit
    (jobs enqueued inside are published then).
    """
    if not isinstance(business_id, int) or isinstance(business_id, bool) or business_id <= 0:
        raise ValueError(f"business_id must be a positive integer, got {business_id!r}")
    with _unit_of_work({"business_id": business_id}) as session:
        yield session


@contextmanager
def system_session() -> Iterator[Session]:
    """A unit of work across tenants, for infrastructure code only."""
    with _unit_of_work({"system": True}) as session:
        yield session


def current_session() -> Session | None:
    """The session of the unit of work running in this context, if any."""
    return _current.get()
