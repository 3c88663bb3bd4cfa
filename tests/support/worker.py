"""Declaring a module's actors again on the current (per-test) broker."""

from __future__ import annotations

from types import ModuleType

import dramatiq

from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import CATALOG, ActorSpec


def redeclare(*modules: ModuleType) -> None:
    """Each test gets a fresh broker; actors declared at import live on an older one."""
    broker = get_broker()
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, dramatiq.Actor) and value.actor_name not in broker.actors:
                spec = CATALOG.get(value.actor_name) or ActorSpec(
                    value.actor_name, value.queue_name
                )
                job_actor(spec, **value.options)(value.fn)
