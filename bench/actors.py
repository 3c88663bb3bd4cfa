"""The benchmark's no-op job for Switchboard's worker: one Redis INCR."""

from __future__ import annotations

import os
import time

import redis

from switchboard.common.jobs import current_job
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import ActorSpec

BENCH_NOOP = ActorSpec("bench_noop_job", "bench", timeout_s=60, max_retries=0, ttl_s=3600)
_redis = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))


@job_actor(BENCH_NOOP)
def bench_noop_job(*, business_id: int, prefix: str) -> None:
    job = current_job()
    latency_ms = time.time() * 1000 - job.enqueued_ms if job else -1
    pipe = _redis.pipeline(transaction=False)
    pipe.incr(f"{prefix}:done")
    pipe.rpush(f"{prefix}:latency", latency_ms)
    pipe.execute()
