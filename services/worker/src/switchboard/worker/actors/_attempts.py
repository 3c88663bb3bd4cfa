"""What an actor may ask about its own delivery: is this its last try, or should it step back."""

from __future__ import annotations

import random
from typing import NoReturn

import dramatiq
from dramatiq.middleware import CurrentMessage

from switchboard.common.jobs import current_job
from switchboard.common.jobs.catalog import ActorSpec


def is_final_attempt(spec: ActorSpec) -> bool:
    """True when a failure now would not be retried (the entry's retries are used up).

    Counted from the message's failed tries, which :func:`defer` gives back, not from the
    ledger's attempts, which count every start (a deferral, a redelivery after a crash).
    """
    message = CurrentMessage.get_current_message()
    if message is None or current_job() is None:
        return True
    return int(message.options.get("retries", 0)) >= spec.max_retries


def defer(reason: str, *, min_delay_ms: int = 200, max_delay_ms: int = 1000) -> NoReturn:
    """Re-queue the running message after a jittered delay without using up one of its retries.

    Dramatiq's Retries middleware counts every re-queue as a retry; stepping back because the
    business is at its concurrency limit is not a failure, so the count is given back first.
    """
    message = CurrentMessage.get_current_message()
    if message is not None:
        message.options["retries"] = message.options.get("retries", 0) - 1
    raise dramatiq.Retry(reason, delay=random.randint(min_delay_ms, max_delay_ms))
