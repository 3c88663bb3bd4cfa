"""Liveness and readiness facts every service reports."""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter

from switchboard.common.settings import Settings


def threads_by_name() -> dict[str, int]:
    """Live threads grouped by name, with numbers folded (``Thread-12`` → ``Thread-N``)."""
    return dict(Counter(re.sub(r"\d+", "N", t.name) for t in threading.enumerate()))


def database_ready() -> bool:
    """True if the database answers a trivial query."""
    # Here, not at import: the voice gateway reports threads from this module and never
    # touches the database (SQLAlchemy would be a tenth of its start).
    from sqlalchemy import text

    from switchboard.common.db.engine import get_engine

    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not ready"; the reason goes to the logs elsewhere
        return False


async def broker_ready(settings: Settings, timeout_s: float = 2.0) -> bool:
    """True if RabbitMQ accepts a connection (always true for the in-process broker)."""
    if not settings.amqp_url:
        return True
    import aio_pika  # here, not at import: the worker asks seldom and needs it nowhere else

    try:
        connection = await asyncio.wait_for(aio_pika.connect(settings.amqp_url), timeout_s)
    except Exception:  # refused, timed out, auth: all mean "not ready"
        return False
    await connection.close()
    return True
