"""Every background job's actor, one module per domain.

Importing this package declares them all on the process's broker and installs the worker's
runtime. :func:`install` does the same on another broker (tests make fresh ones).
"""

from __future__ import annotations

import importlib

import dramatiq

from switchboard.common.jobs.broker import get_broker
from switchboard.common.settings import get_settings
from switchboard.worker.runtime.broker import install_runtime

#: One module per domain; importing each declares its actors.
DOMAINS = (
    "analysis",
    "calls",
    "erasures",
    "leads",
    "notifications",
    "operations",
    "outbound",
    "prompts",
    "recordings",
    "warmup",
    "webhooks",
    "whatsapp",
)
MODULES = tuple(importlib.import_module(f"{__name__}.{domain}") for domain in DOMAINS)

#: Every declared actor, by name.
ACTORS: dict[str, dramatiq.Actor[..., object]] = {
    value.actor_name: value
    for module in MODULES
    for value in vars(module).values()
    if isinstance(value, dramatiq.Actor)
}


def install(broker: dramatiq.Broker) -> None:
    """Declare every actor on ``broker`` and add the worker's runtime to it."""
    install_runtime(broker, get_settings())
    for actor in ACTORS.values():
        actor.broker = broker
        broker.declare_actor(actor)


install(get_broker())
