"""A worker process sizes its PostgreSQL connections to its threads as it boots; a worker
started inside another process (embedded, tests) leaves that process's pools alone."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from switchboard.common.db import engine
from switchboard.worker.runtime import ledger_connections
from switchboard.worker.runtime.middleware import LedgerMiddleware
from tests.support.environment import configured

# Never reached: making an engine opens no connection.
_POSTGRES = "postgresql+psycopg://nobody@127.0.0.1:1/none"


@pytest.fixture
def own_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's pool sizes and engine, restored after the test."""
    monkeypatch.setattr(engine, "_engine", None)
    monkeypatch.setattr(engine, "_pool", engine._pool)
    monkeypatch.setattr(ledger_connections._pool, "capacity", ledger_connections.capacity())


def _boot(middleware: LedgerMiddleware, threads: int) -> tuple[int, int]:
    middleware.before_worker_boot(None, SimpleNamespace(worker_threads=threads))  # type: ignore[arg-type]
    pool = engine.get_engine().pool
    return pool.size(), pool._max_overflow  # type: ignore[attr-defined]


def test_a_worker_process_bounds_its_connections_by_its_threads(own_pools, tmp_path) -> None:
    with configured(database_url=_POSTGRES, amqp_url="", var_dir=str(tmp_path)):
        assert _boot(LedgerMiddleware(), threads=3) == (3, engine.POOL_SPARE)
        assert ledger_connections.capacity() == 3 + ledger_connections.SPARE


def test_a_worker_inside_another_process_keeps_that_process_s_pools(own_pools, tmp_path) -> None:
    with configured(database_url=_POSTGRES, amqp_url="", var_dir=str(tmp_path)):
        middleware = LedgerMiddleware()
        middleware.sizes_connections = False  # as ``inprocess.start_worker`` sets it
        capacity = ledger_connections.capacity()
        assert _boot(middleware, threads=3) == (40, 10)  # the API's
        assert ledger_connections.capacity() == capacity
