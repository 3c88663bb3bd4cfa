"""Running Dramatiq's worker inside another process (embedded mode and tests)."""

from __future__ import annotations

import dramatiq

from switchboard.common.settings import get_settings
from switchboard.worker.runtime.broker import install_runtime
from switchboard.worker.runtime.middleware import LedgerMiddleware


def start_worker(
    broker: dramatiq.Broker, threads: int = 4, worker_timeout_ms: int = 100
) -> dramatiq.Worker:
    """Start a worker on ``broker`` in this process, with the worker's runtime installed.

    Dramatiq's CLI announces ``process_boot`` to the middleware (the time limit's timer
    starts there); an in-process worker has to do the same.
    """
    install_runtime(broker, get_settings())
    for middleware in broker.middleware:
        if isinstance(middleware, LedgerMiddleware):  # the process's pools are not its alone
            middleware.sizes_connections = False
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=worker_timeout_ms)
    worker.start()
    return worker
