"""The no-op job of the Dramatiq baselines (``plain_actors``, ``floor_actors``): one Redis
round trip that counts it done and notes its enqueue → start latency."""

from __future__ import annotations

import time

import redis
from dramatiq.middleware import CurrentMessage


def record_done(client: redis.Redis, prefix: str) -> None:
    message = CurrentMessage.get_current_message()
    latency_ms = time.time() * 1000 - message.message_timestamp if message else -1
    pipe = client.pipeline(transaction=False)
    pipe.incr(f"{prefix}:done")
    pipe.rpush(f"{prefix}:latency", latency_ms)
    pipe.execute()
