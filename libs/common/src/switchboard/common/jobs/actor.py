"""``job_actor``: declare a Dramatiq actor with the catalog's queue, limits and policies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq

from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import CATALOG, ActorSpec, declare
from switchboard.common.jobs.errors import PERMANENT_ERRORS, JobCancelled


def job_actor(
    spec: ActorSpec | None = None, **overrides: Any
) -> Callable[[Callable[..., Any]], dramatiq.Actor[Any, Any]]:
    """Declare an actor from its catalog entry (``@job_actor(SEND_WHATSAPP_MESSAGE)``).

    Without ``spec`` the function's name picks the entry.

    Permanent failures and cancellations are never retried (``throws``). An entry with no
    ``ttl_s`` gets no ``max_age``: Dramatiq's age limit never drops it.
    """

    def decorate(fn: Callable[..., Any]) -> dramatiq.Actor[Any, Any]:
        chosen = spec or CATALOG[fn.__name__]
        options: dict[str, Any] = {
            "queue_name": chosen.queue,
            "time_limit": chosen.timeout_s * 1000,
            "max_retries": chosen.max_retries,
            "throws": (*PERMANENT_ERRORS, JobCancelled),
        }
        if chosen.ttl_s is not None:
            options["max_age"] = chosen.ttl_s * 1000
        options.update(overrides)
        queue = options.pop("queue_name")
        declare(chosen)
        actor = dramatiq.actor(
            actor_name=chosen.name, queue_name=queue, broker=get_broker(), **options
        )
        return actor(fn)

    return decorate
