"""Every actor of the seed's MOVE_TO_WORKER table, one module per domain.

Importing this package declares them all on the process's broker and installs the worker's
heartbeat. :func:`install` does the same on another broker (tests make fresh ones).
"""

from __future__ import annotations

import importlib

import dramatiq
from dramatiq.middleware import CurrentMessage

from switchboard.common.jobs.broker import get_broker
from switchboard.worker.heartbeat import HeartbeatMiddleware

#: One module per domain; importing each declares its actors.
DOMAINS = (
    "analysis",
    "calls",
    "leads",
    "notifications",
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
    """Declare every actor on ``broker`` and add the middleware the actors rely on."""
    present = {type(middleware) for middleware in broker.middleware}
    if CurrentMessage not in present:
        broker.add_middleware(CurrentMessage())
    if HeartbeatMiddleware not in present:
        broker.add_middleware(HeartbeatMiddleware())
    for actor in ACTORS.values():
        actor.broker = broker
        broker.declare_actor(actor)


install(get_broker())
