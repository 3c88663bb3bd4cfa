"""Chaos (3): PostgreSQL stopped and started under load → while it is away the API answers
503 with ``Retry-After`` (never 500, never a hang: every request has a client timeout and
gets a status), and once it is back every job completes and every message is answered once
(webhooks answered 503 are sent again, as Twilio does)."""

from __future__ import annotations

import collections
import time

import pytest

from tests.chaos.load import MixedLoad
from tests.chaos.stack import Stack, postgres_away, scale
from tests.chaos.whatsapp import exactly_once, fake_twilio, send_webhooks, wait_answered
from tests.support.factories import make_business

AWAY_S = scale(4.0, 20.0)


@pytest.mark.timeout(scale(180, 600))
def test_the_api_answers_503_while_postgres_is_away_and_every_job_completes_after(
    stack: Stack, report
) -> None:
    business = make_business("Chaos Dental")
    with fake_twilio() as (twilio, twilio_env):
        stack.env.update(twilio_env)
        # No worker dies here: take-overs as in production (a worker that cannot write its
        # heartbeat for WORKER_STALE_AFTER_S is presumed dead; see docs/reliability.md).
        stack.env.update(worker_heartbeat_interval_s="5", worker_stale_after_s="30")
        _, api_url = stack.api(wait=False)
        stack.scheduler(wait=False)
        worker = stack.supervised_worker()
        stack.ready()
        load = MixedLoad(api_url, business, webhooks_per_s=10, reads_per_s=10).start()
        time.sleep(2)
        away_from = time.monotonic()
        try:
            with postgres_away():
                time.sleep(AWAY_S)
        finally:
            back_at = time.monotonic()
        time.sleep(scale(2, 10))
        load.stop()

        answers = load.webhooks + load.reads
        refused = [m.inbound for m in load.webhooks if m.status != 200 and m.inbound]
        retried = send_webhooks(api_url, refused, rate=20) if refused else []
        contacts = [inbound.contact for inbound in load.sent]
        wait_answered(twilio, contacts, timeout=scale(90, 180))
        stack.wait_settled(business.id, timeout=scale(60, 180))
        once, never, twice, _ = exactly_once(twilio, contacts)
        jobs = stack.jobs_by_status(business.id)

    by_status = collections.Counter(str(a.status) if a.status else a.error for a in answers)
    while_away = [a for a in answers if away_from <= a.sent_at <= back_at]
    unavailable = [a for a in answers if a.status == 503]
    slowest = max(a.latency_s for a in answers)
    again = collections.Counter(str(a.status) if a.status else a.error for a in retried)
    report(
        "postgres-restart",
        f"PostgreSQL away {back_at - away_from:.1f} s under {len(load.webhooks)} webhooks and"
        f" {len(load.reads)} reads: {dict(by_status)} (slowest {slowest:.1f} s);"
        f" {len(refused)} refused webhooks sent again ({dict(again)});"
        f" {once} answered once, {never} never, {twice} more than once; ledger {dict(jobs)};"
        f" worker exits {worker.exits}",
    )
    assert not [a for a in answers if a.status is None], "every request gets a status"
    assert set(by_status) <= {"200", "503"}, by_status
    assert [a for a in while_away if a.status == 503], "503 while PostgreSQL is away"
    assert all(a.retry_after for a in unavailable)
    assert all(a.status == 200 for a in retried)
    assert (never, twice) == (0, 0)
    assert set(jobs) == {"succeeded"}, jobs
