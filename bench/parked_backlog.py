"""What a business's backlog of parked jobs costs the SQL enqueue and the fair-share sweep.

On a new PostgreSQL database, parks ``--backlog`` jobs of one business in its ``whatsapp``
queue (as a flood of webhooks does, fair share on), then times, in alternating rounds on one
connection, twice: first with the plans the connection made before the flood (a connection
keeps its functions' plans; autovacuum, when on, analyzes a growing table now and then), then
after an ``ANALYZE`` (plans made again, knowing the backlog):

* the SQL enqueue of a batch (``--batch``, a webhook batch's size, and 500, ``enqueue_many``'s),
  as migration 0024 defines it and as 0022 did (installed beside it under another name);
* the sweep each worker process runs once a second, both ways.

Each call runs in a transaction rolled back, so the backlog stays the same; ``synchronous_commit``
is off, as on the worker's connections. Prints each way's median ms per call and their ratio.
Needs PostgreSQL (local default).

    uv run python bench/parked_backlog.py --backlog 50000 --rounds 5
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stopping import stop_cleanly_on_sigterm  # noqa: E402
from switchboard.common.db.planner import function_settings  # noqa: E402
from switchboard.common.migrate import worker_startup_migrations  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.backlog import add_jobs, enqueue_args  # noqa: E402
from tests.support.environment import configured  # noqa: E402
from tests.support.factories import make_business  # noqa: E402

_VERSIONS = "switchboard.common.migrations.versions."


def install_previous(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Migration 0022's enqueue and sweep, as ``*_0022`` beside the current ones."""
    fair_share = importlib.import_module(_VERSIONS + "0022_fair_share_slots")
    conn.execute(fair_share.CREATE_ENQUEUE.replace("switchboard_enqueue_jobs(", "enqueue_0022("))
    conn.execute(f"ALTER FUNCTION enqueue_0022 {function_settings()}")
    conn.execute(fair_share._SWEEP.replace("switchboard_sweep_slots(", "sweep_0022("))


def timed(
    conn: psycopg.Connection[tuple[object, ...]], sql: str, params: tuple[object, ...]
) -> float:
    """One call in a transaction rolled back: ms."""
    started = time.perf_counter()
    with conn.transaction(force_rollback=True):
        conn.execute(sql, params).fetchall()
    return (time.perf_counter() - started) * 1000


_ENQUEUE = "SELECT count(*) FROM {}(%s, now(), %s, %s, %s, %s, %s)"
_SWEEP = "SELECT count(*) FROM {}(now(), now() - interval '1 minute', '{{}}')"
_NAMES = {
    "0024 (now)": ("switchboard_enqueue_jobs", "switchboard_sweep_slots"),
    "0022 (before)": ("enqueue_0022", "sweep_0022"),
}


class Run:
    """Rounds of every way, the two versions alternating; ms per call by (way, version)."""

    def __init__(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        business_id: int,
        ways: dict[str, tuple[str, int]],
        calls: int,
    ) -> None:
        self.conn, self.business_id, self.ways, self.calls = conn, business_id, ways, calls
        self.ms: dict[tuple[str, str], list[float]] = {}

    def round(self) -> None:
        for version, (enqueue_fn, sweep_fn) in _NAMES.items():
            for way, (sql, n) in self.ways.items():
                fn = sweep_fn if n == 0 else enqueue_fn
                for _ in range(self.calls):
                    params = enqueue_args(self.business_id, n) if n else ()
                    elapsed = timed(self.conn, sql.format(fn), params)
                    self.ms.setdefault((way, version), []).append(elapsed)


def main() -> None:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=44, help="a webhook batch's size")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20, help="calls per way per round")
    args = parser.parse_args()

    admin_url = services.admin_database_url()
    database_url = services.create_database(admin_url)
    try:
        with configured(database_url=database_url, amqp_url=""):
            worker_startup_migrations()
            business = make_business()
        dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            install_previous(conn)
            conn.execute("SET synchronous_commit = off")
            ways = {
                f"enqueue, {args.batch} jobs": (_ENQUEUE, args.batch),
                "enqueue, 500 jobs": (_ENQUEUE, 500),
                "sweep": (_SWEEP, 0),
            }
            run = Run(conn, business.id, ways, args.calls)
            run.round()  # the connection's plans, made on an empty backlog
            add_jobs(conn, business.id, args.backlog)
            for phase in ("plans from before the flood", "after ANALYZE"):
                if phase == "after ANALYZE":
                    conn.execute("ANALYZE")
                run.ms.clear()
                for _ in range(args.rounds):
                    run.round()
                print(
                    f"{args.backlog:,} parked jobs of one business, {phase}; median ms per "
                    f"call ({args.rounds} rounds × {args.calls} calls, alternating):"
                )
                print(f"{'':24}{'0024 (now)':>14}{'0022 (before)':>16}{'ratio':>8}")
                for way in ways:
                    now = statistics.median(run.ms[(way, "0024 (now)")])
                    before = statistics.median(run.ms[(way, "0022 (before)")])
                    print(f"{way:24}{now:>14.2f}{before:>16.2f}{now / before:>8.2f}")
    finally:
        services.drop_database(admin_url, database_url)


if __name__ == "__main__":
    main()
