"""The baseline: the same no-op job on plain Dramatiq (no ledger, no outbox)."""

from __future__ import annotations

import os
import time

import dramatiq
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import CurrentMessage

broker = RabbitmqBroker(url=os.environ["AMQP_URL"], confirm_delivery=True)
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)
_redis = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))


@dramatiq.actor(queue_name="bench_plain", max_retries=0, time_limit=60_000)
def plain_noop_job(*, business_id: int, prefix: str) -> None:
    message = CurrentMessage.get_current_message()
    latency_ms = time.time() * 1000 - message.message_timestamp if message else -1
    pipe = _redis.pipeline(transaction=False)
    pipe.incr(f"{prefix}:done")
    pipe.rpush(f"{prefix}:latency", latency_ms)
    pipe.execute()
