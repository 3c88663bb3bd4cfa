"""One scheduler leads at a time: a PostgreSQL session advisory lock held on its own connection.

The lock lives exactly as long as the leader's database session. A leader process that dies
(SIGKILL, OOM) closes its socket, PostgreSQL ends the session and frees the lock, and the
next follower to try (every poll, under a second) leads. A leader whose machine or network
vanishes without closing the socket is found out by TCP keepalives on both ends within about
ten seconds. A leader that is there but silent (a paused VM, a process stopped or stuck in a
call: its kernel still answers keepalives) is ended by PostgreSQL itself once its session has
said nothing for :data:`LEADER_SILENCE_S` (``idle_session_timeout``; a live leader speaks
every poll). Which scheduler leads decides only who does the work: each tick's emission is
exactly-once by itself (``emission``), so even two leaders at once could not emit twice.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from switchboard.common.db.engine import CONNECT_TIMEOUT_S, get_engine

LEADER_LOCK_ID = 0x53574C44  # "SWLD"
#: Seconds of silence before a keepalive probe, between probes, and probes before giving up.
KEEPALIVE = (5, 2, 3)
#: Seconds a leader's session may say nothing before PostgreSQL ends it (and frees the lock),
#: and an emission's transaction may sit idle holding its schedule's row (``emission``). A
#: live leader speaks every poll, or after a step that took longer.
LEADER_SILENCE_S = 10
#: ``idle_session_timeout`` came with PostgreSQL 14.
_IDLE_SESSION_TIMEOUT_SINCE = (14,)


def _leader_engine(engine: Engine) -> Engine:
    """An engine for the leader's own connection: never pooled (closing it ends the session,
    and the lock with it), with client keepalives and a bound on unacknowledged writes."""
    idle, interval, count = KEEPALIVE
    return create_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "keepalives": 1,
            "keepalives_idle": idle,
            "keepalives_interval": interval,
            "keepalives_count": count,
            "tcp_user_timeout": (idle + interval * count) * 1000,
        },
    )


class Leadership:
    """Try to become leader; keep the lock for as long as the connection lives."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self.is_leader = False

    def try_acquire(self) -> bool:
        """True if this process is (now) the leader."""
        engine = get_engine()
        if engine.dialect.name != "postgresql":
            self.is_leader = True  # embedded SQLite: one process, so one leader
            return True
        if self.is_leader and self._conn is not None:
            try:  # the lock lives as long as this session does
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception:  # connection lost, and the lock with it: compete again
                self._drop()
        try:
            if self._conn is None:
                self._conn = self._connect(engine)
            got = self._conn.execute(
                text("SELECT pg_try_advisory_lock(:id)"), {"id": LEADER_LOCK_ID}
            ).scalar()
            self._conn.commit()
        except Exception:  # the database is out of reach: follow until it is back
            self._drop()
            raise
        self.is_leader = bool(got)
        return self.is_leader

    def _connect(self, engine: Engine) -> Connection:
        if self._engine is None or self._engine.url != engine.url:
            self._engine = _leader_engine(engine)
        conn = self._engine.connect()
        # The server's side of the keepalives: a leader gone silent loses the lock.
        idle, interval, count = KEEPALIVE
        conn.execute(
            text(
                "SELECT set_config('tcp_keepalives_idle', :idle, false), "
                "set_config('tcp_keepalives_interval', :interval, false), "
                "set_config('tcp_keepalives_count', :count, false)"
            ),
            {"idle": str(idle), "interval": str(interval), "count": str(count)},
        )
        conn.commit()
        if (conn.dialect.server_version_info or ()) >= _IDLE_SESSION_TIMEOUT_SINCE:
            # A leader stopped with its socket open (its kernel answers keepalives) lets go.
            conn.execute(
                text("SELECT set_config('idle_session_timeout', :ms, false)"),
                {"ms": str(LEADER_SILENCE_S * 1000)},
            )
            conn.commit()
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.invalidate()
            self._conn.close()
        self._conn, self.is_leader = None, False

    def release(self) -> None:
        """Give up leadership: unlock, and close the connection (which would free it anyway)."""
        if self._conn is not None:
            try:
                if self.is_leader:
                    self._conn.execute(
                        text("SELECT pg_advisory_unlock(:id)"), {"id": LEADER_LOCK_ID}
                    )
                    self._conn.commit()
                self._conn.close()
            except Exception:  # a dead connection: discarding it frees the lock
                self._conn.invalidate()
            self._conn = None
        self.is_leader = False
