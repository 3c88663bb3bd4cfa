"""Chaos (8): a soak of mixed load (signed webhooks answered by the worker, REST reads, jobs
of the effect actor) against ``switchboard api``, ``worker`` and ``scheduler`` → the memory
(RSS) of every process ends within 10 % of its level after the warm-up, and no process gains
or loses threads."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
import psutil
import pytest

from tests.chaos.effects import enqueue_effects
from tests.chaos.load import MixedLoad
from tests.chaos.stack import Stack, process_tree, scale
from tests.chaos.whatsapp import exactly_once, fake_twilio, wait_answered
from tests.support.factories import make_business
from tests.support.processes import ServiceProcess

SOAK_S = scale(25.0, 600.0)
WARM_S = scale(10.0, 60.0)
JOBS_PER_S = 20
TOLERANCE = 0.10
POOL_THREAD = "AnyIO worker thread"


@dataclass
class Samples:
    """RSS (bytes) and thread counts of every process of the services, as (seconds, value).

    The API and the scheduler serve sync routes from AnyIO's thread pool, which starts threads
    as requests need them and ends those idle for 10 s: their counts are read from ``/health``
    (threads by name), without that pool's, whose size is kept apart.
    """

    services: dict[str, tuple[ServiceProcess, str | None]]
    start: float = field(default_factory=time.monotonic)
    rss: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    threads: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    pool: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def take(self) -> None:
        at = time.monotonic() - self.start
        for name, (service, url) in self.services.items():
            for i, process in enumerate(process_tree(service)):
                key = name if i == 0 else f"{name}.{i}"
                try:
                    with process.oneshot():
                        rss, threads = process.memory_info().rss, process.num_threads()
                except psutil.NoSuchProcess:
                    continue
                if url is not None and i == 0:
                    by_name = httpx.get(f"{url}/health", timeout=10).json()["threads"]
                    pool = by_name.pop(POOL_THREAD, 0)
                    threads = sum(by_name.values())
                    self.pool.setdefault(key, []).append((at, pool))
                self.rss.setdefault(key, []).append((at, rss))
                self.threads.setdefault(key, []).append((at, threads))

    @staticmethod
    def warm_and_last(values: list[tuple[float, int]]) -> tuple[int, int]:
        """The value at the first sample after the warm-up, and the last one."""
        warm = next(value for at, value in values if at >= WARM_S)
        return warm, values[-1][1]


def enqueue_jobs(business_id: int, stop: threading.Event) -> int:
    """``JOBS_PER_S`` effect jobs a second, in tenths of a second, until ``stop``."""
    n, start = 0, time.monotonic()
    while not stop.is_set():
        enqueue_effects(business_id, JOBS_PER_S // 10)
        n += JOBS_PER_S // 10
        stop.wait(max(0.0, start + n / JOBS_PER_S - time.monotonic()))
    return n


@pytest.mark.timeout(scale(180, 1200))
def test_memory_and_threads_hold_steady_under_mixed_load(stack: Stack, report) -> None:
    business = make_business("Chaos Spa")
    with fake_twilio() as (twilio, twilio_env):
        stack.env.update(twilio_env)
        api, api_url = stack.api(wait=False)
        samples = Samples(
            {
                "api": (api, api_url),
                "scheduler": stack.scheduler(wait=False),
                "worker": (stack.worker(threads=4), None),
            }
        )
        stack.ready()
        stop = threading.Event()
        enqueued: list[int] = []
        jobs = threading.Thread(target=lambda: enqueued.append(enqueue_jobs(business.id, stop)))
        load = MixedLoad(api_url, business, webhooks_per_s=5, reads_per_s=5).start()
        jobs.start()
        samples.start = time.monotonic()
        try:
            while time.monotonic() - samples.start < SOAK_S:
                samples.take()
                time.sleep(1.0)
            samples.take()
        finally:
            stop.set()
            load.stop()
            jobs.join()
        contacts = [inbound.contact for inbound in load.sent]
        wait_answered(twilio, contacts, timeout=60)
        stack.wait_settled(business.id, timeout=60)
        _, never, twice, _ = exactly_once(twilio, contacts)

    rss = {key: Samples.warm_and_last(values) for key, values in samples.rss.items()}
    threads = {key: Samples.warm_and_last(values) for key, values in samples.threads.items()}
    pools = {key: max(value for _, value in values) for key, values in samples.pool.items()}
    growth = {key: (last - warm) / warm for key, (warm, last) in rss.items()}
    figures = ", ".join(
        f"{key} {warm / 2**20:.0f}→{last / 2**20:.0f} MiB ({growth[key]:+.1%})"
        for key, (warm, last) in rss.items()
    )
    report(
        "soak",
        f"{SOAK_S:.0f} s of {len(load.webhooks)} webhooks, {len(load.reads)} reads and"
        f" {sum(enqueued)} jobs; RSS after {WARM_S:.0f} s → end: {figures};"
        f" threads {threads} (request thread pools at most {pools});"
        f" {never} unanswered, {twice} answered twice",
    )
    assert {key: abs(g) <= TOLERANCE for key, g in growth.items()} == dict.fromkeys(growth, True)
    assert {key: a == b for key, (a, b) in threads.items()} == dict.fromkeys(threads, True)
    assert (never, twice) == (0, 0)
