"""Liveness and readiness facts every service reports."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter

from switchboard.common.logging import get_logger
from switchboard.common.settings import Settings

log = get_logger(__name__)


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


#: How long a read of the database's schema revision answers ``/ready``: probes come every few
#: seconds, and a migration that just ran is seen this much later at most.
SCHEMA_CHECK_TTL_S = 5.0

#: The last read per database URL: (monotonic time, the problem or None).
_schema_seen: dict[str, tuple[float, str | None]] = {}


def schema_problem() -> str | None:
    """Why the database's schema cannot serve this code (it is behind: the migration has not
    run), or None; read at most every :data:`SCHEMA_CHECK_TTL_S` seconds.

    Asked only once the database answers (:func:`database_ready`): a read that fails then is a
    problem of its own, not cached. The rule is :func:`switchboard.common.migrate.schema_behind`.
    """
    from switchboard.common.db.engine import get_engine
    from switchboard.common.migrate import current_revision, schema_behind

    engine = get_engine()
    key = engine.url.render_as_string(hide_password=True)
    seen = _schema_seen.get(key)
    now = time.monotonic()
    if seen is not None and now - seen[0] < SCHEMA_CHECK_TTL_S:
        return seen[1]
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    except Exception as exc:  # reachable but unreadable: say so, and read again next time
        # The driver's message to the logs only: /ready is open to anyone who reaches it.
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        log.warning("ready.schema_unreadable", error=cause[0][:300] if cause else "")
        return f"database schema revision unreadable ({type(exc).__name__})"
    problem = schema_behind(current)
    _schema_seen[key] = (now, problem)
    return problem


def forget_schema_check() -> None:
    """Read the schema's revision afresh at the next probe (tests that migrate meanwhile)."""
    _schema_seen.clear()


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


#: How long :func:`broker_refusal` waits for RabbitMQ to answer, in seconds.
BROKER_CHECK_TIMEOUT_S = 5.0


def broker_refusal(settings: Settings) -> str | None:
    """Why RabbitMQ refuses ``AMQP_URL``'s login (its user, password or virtual host), as one
    line for a start to refuse with; None when it lets us in, when no ``AMQP_URL`` is set, or
    when it is out of reach: the services wait for a broker that is away (docs/reliability.md),
    but one that says no says so again at every reconnection, and a start that went on logged
    every consumer's refusal a few times a second under a banner saying it was up."""
    if not settings.amqp_url:
        return None
    import logging

    import pika
    from pika import exceptions

    from switchboard.common.redaction import redact

    parameters = pika.URLParameters(settings.amqp_url)
    parameters.connection_attempts = 1
    parameters.socket_timeout = BROKER_CHECK_TIMEOUT_S
    parameters.stack_timeout = BROKER_CHECK_TIMEOUT_S
    pika_log = logging.getLogger("pika")
    level = pika_log.level
    pika_log.setLevel(logging.CRITICAL)  # its lines of the failed attempt: ours says it
    try:
        pika.BlockingConnection(parameters).close()
    except (exceptions.ProbableAccessDeniedError, exceptions.ProbableAuthenticationError) as exc:
        said = re.search(r"\((\d{3})\) '([^']*)'", str(exc))
        reason = f"{said.group(2)} ({said.group(1)})" if said else type(exc).__name__
        return (
            f"RabbitMQ refused AMQP_URL {redact(settings.amqp_url)}: {reason}; check its user "
            "and password, and that its virtual host exists and the user has permissions on it"
        )
    except exceptions.AMQPError:  # away, or too slow: waited for, as in service
        return None
    finally:
        pika_log.setLevel(level)
    return None
