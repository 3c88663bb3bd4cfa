"""The baseline: the same no-op job on plain Dramatiq (no ledger, no outbox)."""

from __future__ import annotations

import os

import dramatiq
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import CurrentMessage

from bench.noop_job import record_done

broker = RabbitmqBroker(url=os.environ["AMQP_URL"], confirm_delivery=True)
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)
_redis = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))


@dramatiq.actor(queue_name="bench_plain", max_retries=0, time_limit=60_000)
def plain_noop_job(*, business_id: int, prefix: str) -> None:
    record_done(_redis, prefix)
