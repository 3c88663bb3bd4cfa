"""The events a business's webhook endpoints can subscribe to.

The one list behind an endpoint's ``events`` (the API refuses any other name with a 422 that
lists these) and behind which call events are delivered (``calls.followups``). A test
delivery (``webhook.test``) is sent on request to any endpoint and is not subscribed to.
"""

from __future__ import annotations

from typing import Literal, get_args

WebhookEvent = Literal["call.started", "call.ended", "recording.ready"]
#: Every event an endpoint can subscribe to.
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = get_args(WebhookEvent)
