"""Database access: engine, declarative base and tenant-scoped sessions."""

from switchboard.common.db.base import Base
from switchboard.common.db.engine import get_engine, reset_engine
from switchboard.common.db.tenancy import current_session, system_session, tenant_session

__all__ = [
    "Base",
    "current_session",
    "get_engine",
    "reset_engine",
    "system_session",
    "tenant_session",
]
