"""Every actor of the seed's MOVE_TO_WORKER table, one module per domain.

Importing this package declares them all on the process's broker and installs the worker's
heartbeat. :func:`install` does the same on another broker (tests make fresh ones).
"""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import CurrentMessage

from switchboard.common.jobs.broker import get_broker
from switchboard.worker.actors import (
    analysis,
    calls,
    leads,
    notifications,
    outbound,
    prompts,
    recordings,
    warmup,
    webhooks,
    whatsapp,
)
from switchboard.worker.heartbeat import HeartbeatMiddleware

MODULES = (
    analysis,
    calls,
    leads,
    notifications,
    outbound,
    prompts,
    recordings,
    warmup,
    webhooks,
    whatsapp,
)

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
