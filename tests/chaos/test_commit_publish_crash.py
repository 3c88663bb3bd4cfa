"""Chaos (4): the publisher dies between its commit and its publish → the outbox relay
delivers what it committed, once.

Two ways: jobs committed by a process that never published them (its pending list dropped,
as a crash right after the commit leaves it), and ``switchboard api`` SIGKILLed in the
middle of a burst of webhooks while its outbox holds rows not yet published.
"""

from __future__ import annotations

import collections
import time

import pytest

from tests.chaos.effects import count_effects, enqueue_effects
from tests.chaos.stack import Stack, scale
from tests.chaos.whatsapp import (
    Flood,
    exactly_once,
    fake_twilio,
    inbound_messages,
    send_webhooks,
    wait_answered,
)
from tests.support.factories import make_business
from tests.support.processes import free_port

JOBS = scale(200, 2_000)
MESSAGES = scale(60, 300)
RATE = scale(60.0, 100.0)


@pytest.mark.timeout(scale(120, 600))
def test_jobs_committed_but_never_published_are_delivered_by_the_relay(
    stack: Stack, report
) -> None:
    business = make_business()
    job_ids = enqueue_effects(business.id, JOBS, publish=False)
    # Counted before any relay runs: those over the business's limit (fair share) are
    # parked in the ledger instead, to be published as its slots free.
    stranded, parked = stack.outbox_rows(business.id), stack.parked_jobs(business.id)
    started = time.monotonic()
    stack.worker("chaos")
    stack.scheduler(wait=False)
    stack.wait_settled(business.id, timeout=scale(90, 300))
    elapsed = time.monotonic() - started
    effects = count_effects(stack, job_ids)
    jobs = stack.jobs_by_status(business.id)
    report(
        "commit-publish",
        f"{JOBS} jobs committed and never published ({stranded} outbox rows,"
        f" {parked} parked):"
        f" {effects.applied} applied by the relay's publish within {elapsed:.1f} s,"
        f" {effects.lost} lost, {effects.twice} applied twice; ledger {dict(jobs)}",
    )
    assert stranded > 0 and stranded + parked == JOBS
    assert (effects.lost, effects.twice) == (0, 0)
    assert jobs == {"succeeded": JOBS}


@pytest.mark.timeout(scale(180, 600))
def test_webhooks_of_an_api_killed_mid_burst_are_answered_once(stack: Stack, report) -> None:
    business = make_business("Chaos Barber")
    with fake_twilio() as (twilio, twilio_env):
        stack.env.update(twilio_env)
        port = free_port()
        api, api_url = stack.api(port, wait=False)
        stack.scheduler(wait=False)
        stack.worker()
        stack.ready()
        messages = inbound_messages(business.phone_number, MESSAGES)
        flood = Flood(api_url, messages, RATE).start()
        # Killed once a quarter of the burst is sent, at a moment its outbox holds rows.
        start = time.monotonic()
        time.sleep(MESSAGES / RATE / 4)
        while not stack.outbox_rows(business.id) and time.monotonic() < start + MESSAGES / RATE:
            time.sleep(0.001)
        api.kill()
        stranded = stack.outbox_rows(business.id)
        stack.api(port)
        answers = flood.join()
        refused = [a.inbound for a in answers if a.status != 200 and a.inbound]
        retried = send_webhooks(api_url, refused, rate=30) if refused else []
        contacts = [message.contact for message in messages]
        wait_answered(twilio, contacts, timeout=scale(90, 180))
        stack.wait_settled(business.id, timeout=scale(60, 180))
        once, never, twice, _ = exactly_once(twilio, contacts)
        jobs = stack.jobs_by_status(business.id)

    first = collections.Counter(str(a.status) if a.status else a.error for a in answers)
    report(
        "commit-publish-api-kill",
        f"{MESSAGES} webhooks, the API SIGKILLed with {stranded} committed rows unpublished"
        f" ({dict(first)}; {len(refused)} sent again): {once} answered once, {never} never,"
        f" {twice} more than once; ledger {dict(jobs)}",
    )
    assert all(a.status == 200 for a in retried)
    assert (never, twice) == (0, 0)
    assert set(jobs) == {"succeeded"}, jobs
