"""Webhooks: a business's outgoing webhook endpoints and the call events delivered to them.

``endpoints`` manages the endpoints, their delivery log and test deliveries; ``delivery``
signs and sends one event to one endpoint and logs each attempt.
"""

from switchboard.domain.webhooks.delivery import deliver_webhook
from switchboard.domain.webhooks.endpoints import (
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    send_test,
    update_endpoint,
)

__all__ = [
    "create_endpoint",
    "delete_endpoint",
    "deliver_webhook",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "send_test",
    "update_endpoint",
]
