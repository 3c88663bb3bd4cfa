"""The floor under a job system that keeps its jobs in PostgreSQL: plain Dramatiq's no-op job
(``bench/plain_actors.py``), whose worker writes each job's outcome to PostgreSQL before it
acknowledges the message, one autocommitted row per job on a connection per worker thread.

The least a worker can do and still know, after a crash, which jobs ran: no row at enqueue, no
start mark, no retry bookkeeping, no tenancy, no fair share, no plans or pools of ours.
``bench/jobs.py --compare-floor`` drains it beside the other sides."""

from __future__ import annotations

import os
import threading
from typing import Any

import dramatiq
import psycopg
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import CurrentMessage, Middleware

from bench.noop_job import record_done

#: The table the outcomes go to (``create_table`` makes it in the bench's database).
TABLE = "bench_floor_outcomes"


def create_table(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            " message_id text PRIMARY KEY, outcome text NOT NULL,"
            " finished_at timestamptz NOT NULL DEFAULT now())"
        )


def count_outcomes(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    return int(row[0]) if row else 0


class RecordOutcome(Middleware):
    """Each job's outcome, durably, before its message is acknowledged."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.local = threading.local()

    def _connection(self) -> psycopg.Connection[Any]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = psycopg.connect(self.database_url, autocommit=True)
        return conn

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.Message[Any],
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self._connection().execute(
            f"INSERT INTO {TABLE} (message_id, outcome) VALUES (%s, %s)"
            " ON CONFLICT (message_id) DO UPDATE SET outcome = excluded.outcome",
            (message.message_id, "failed" if exception else "done"),
        )


broker = RabbitmqBroker(url=os.environ["AMQP_URL"], confirm_delivery=True)
broker.add_middleware(CurrentMessage())
broker.add_middleware(RecordOutcome(os.environ["BENCH_FLOOR_DATABASE_URL"]))
dramatiq.set_broker(broker)
_redis = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))


@dramatiq.actor(queue_name="bench_floor", max_retries=0, time_limit=60_000)
def floor_noop_job(*, business_id: int, prefix: str) -> None:
    record_done(_redis, prefix)  # ``plain_noop_job``'s body
