"""One scheduler leads at a time: a PostgreSQL session advisory lock held on its own connection."""

from __future__ import annotations

from sqlalchemy import Connection, text

from switchboard.common.db.engine import get_engine

LEADER_LOCK_ID = 0x53574C44  # "SWLD"


class Leadership:
    """Try to become leader; keep the lock for as long as the connection lives."""

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self.is_leader = False

    def try_acquire(self) -> bool:
        """True if this process is (now) the leader."""
        engine = get_engine()
        if self.is_leader and self._conn is not None:
            try:  # the lock lives as long as this session does
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception:  # connection lost, and the lock with it: compete again
                self._conn.invalidate()
                self._conn.close()
                self._conn, self.is_leader = None, False
        elif self.is_leader:
            return True
        if engine.dialect.name != "postgresql":
            self.is_leader = True  # embedded SQLite: one process, so one leader
            return True
        if self._conn is None:
            self._conn = engine.connect()
        got = self._conn.execute(
            text("SELECT pg_try_advisory_lock(:id)"), {"id": LEADER_LOCK_ID}
        ).scalar()
        self._conn.commit()
        self.is_leader = bool(got)
        return self.is_leader

    def release(self) -> None:
        """Give up leadership.

        The lock belongs to the database session, and closing a pooled connection only returns
        it to the pool, so unlock explicitly (or discard the connection if that fails).
        """
        if self._conn is not None:
            try:
                if self.is_leader:
                    self._conn.execute(
                        text("SELECT pg_advisory_unlock(:id)"), {"id": LEADER_LOCK_ID}
                    )
                    self._conn.commit()
            except Exception:  # a dead connection: dropping it from the pool frees the lock
                self._conn.invalidate()
            self._conn.close()
            self._conn = None
        self.is_leader = False
