"""The stores a job process's hot paths write through, picked once by the database's dialect.

Each is a port of the domain. On PostgreSQL the worker's own adapters make each unit of work
one call of a migration's function (``switchboard.worker.adapters``); elsewhere (SQLite, the
embedded mode) the domain's portable ORM adapters do the work. Actors ask for :func:`stores`
and pass the ports to the domain functions, as they pass ``switchboard.common.bootstrap``'s
``adapters()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.common.db.engine import get_engine
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.analysis.conversations import AnalysisStore, OrmAnalysisStore
from switchboard.domain.whatsapp.replies import OrmReplyStore, ReplyStore
from switchboard.domain.whatsapp.sending import OrmSendLedger, SendLedger
from switchboard.worker.adapters.analysis import PostgresAnalysisStore
from switchboard.worker.adapters.whatsapp_replies import PostgresReplyStore
from switchboard.worker.adapters.whatsapp_sending import PostgresSendLedger


@dataclass(frozen=True)
class Stores:
    """One adapter per port."""

    replies: ReplyStore
    sends: SendLedger
    analysis: AnalysisStore


def make_stores(dialect: str, settings: Settings) -> Stores:
    """The PostgreSQL adapters for ``postgresql``, the portable ones for any other dialect."""
    if dialect == "postgresql":
        role = settings.db_app_role
        return Stores(
            PostgresReplyStore(role), PostgresSendLedger(role), PostgresAnalysisStore(role)
        )
    return Stores(OrmReplyStore(), OrmSendLedger(), OrmAnalysisStore())


_stores: tuple[Settings, Stores] | None = None


def stores() -> Stores:
    """The process's stores; picked again when the settings object changes (tests reconfigure)."""
    global _stores
    settings = get_settings()
    if _stores is None or _stores[0] is not settings:
        _stores = (settings, make_stores(get_engine().dialect.name, settings))
    return _stores[1]
