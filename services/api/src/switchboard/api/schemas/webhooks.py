"""Outgoing webhook endpoints and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from switchboard.api.schemas.common import Boolean, Page, Patch, RequestBody, Timestamp
from switchboard.common.models import WebhookEndpoint
from switchboard.domain.lengths import column_chars
from switchboard.domain.webhooks.events import WEBHOOK_EVENTS, WebhookEvent
from switchboard.domain.webhooks.statuses import DELIVERY_STATUSES

Kind = Literal["generic", "n8n"]
_EVENTS = f"Event types to send, of {', '.join(WEBHOOK_EVENTS)}; null means all"
#: The longest URL an endpoint keeps (its column's length).
MAX_URL_CHARS = column_chars(WebhookEndpoint.__table__.c.url)


def _storable_url(url: AnyHttpUrl) -> AnyHttpUrl:
    # The URL as stored is pydantic's normalised form: non-ASCII percent-encoded (one "é",
    # six characters), so it is measured after, not as sent.
    if len(str(url)) > MAX_URL_CHARS:
        raise PydanticCustomError(
            "url_too_long",
            "is {length} characters once normalised (non-ASCII percent-encoded); "
            "at most {max_length} are kept",
            {"length": len(str(url)), "max_length": MAX_URL_CHARS},
        )
    return url


def _distinct(events: list[WebhookEvent]) -> list[WebhookEvent]:
    repeated = sorted({event for event in events if events.count(event) > 1})
    if repeated:
        raise PydanticCustomError(
            "duplicate_events", "names {repeated} more than once", {"repeated": repeated}
        )
    return events


#: An endpoint's URL: http(s), at most ``MAX_URL_CHARS`` once normalised.
WebhookUrl = Annotated[
    AnyHttpUrl,
    AfterValidator(_storable_url),
    Field(
        examples=["https://hooks.example.com/switchboard"],
        json_schema_extra={"maxLength": MAX_URL_CHARS},
    ),
]
#: What a client subscribes to: known event names only (a 422 lists them), each once, at
#: least one (``null`` is every event).
Subscription = Annotated[
    list[WebhookEvent],
    Field(min_length=1, max_length=len(WEBHOOK_EVENTS)),
    AfterValidator(_distinct),
]


class WebhookEndpointBase(BaseModel):
    kind: Kind = Field("generic", examples=["n8n"])
    active: Boolean = True


class WebhookEndpointCreate(WebhookEndpointBase, RequestBody):
    url: WebhookUrl
    events: Subscription | None = Field(
        None, description=_EVENTS, examples=[["call.ended", "recording.ready"]]
    )


class WebhookEndpointUpdate(Patch):
    """Only the fields given change; ``events: null`` means every event."""

    nullable = frozenset({"events"})

    url: WebhookUrl | None = None
    kind: Kind | None = None
    events: Subscription | None = Field(None, description=_EVENTS)
    active: Boolean | None = None
    rotate_secret: Boolean = Field(False, description="Issue a new signing secret (shown once)")


class WebhookEndpointPublic(WebhookEndpointBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    # Plain names: an endpoint saved before the list was checked may hold others.
    events: list[str] | None = Field(
        description=_EVENTS, examples=[["call.ended", "recording.ready"]]
    )
    created_at: Timestamp
    updated_at: Timestamp


class WebhookEndpointWithSecret(WebhookEndpointPublic):
    secret: str = Field(
        description="HMAC key of X-Switchboard-Signature; shown only when created or rotated"
    )


class WebhookEndpointUpdated(WebhookEndpointPublic):
    secret: str | None = Field(None, description="The new secret when rotate_secret was true")


class WebhookDeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint_id: int
    event_type: str = Field(examples=["webhook.test"])
    event_id: str
    payload: dict[str, Any]
    status: str = Field(examples=["pending"], description=", ".join(DELIVERY_STATUSES))
    attempt: int
    response_status: int | None
    error: str | None
    delivered_at: Timestamp | None
    created_at: Timestamp


class WebhookEndpointPage(Page[WebhookEndpointPublic]):
    pass


class WebhookDeliveryPage(Page[WebhookDeliveryPublic]):
    pass


class WebhookTestQueued(BaseModel):
    event_id: str = Field(description="Find the attempts under /deliveries by this event id")
    event_type: str = Field(examples=["webhook.test"])
    actor_name: str = Field(examples=["send_webhook_with_retry_job"])
    job_id: str = Field(description="The delivery job; see /api/v1/jobs/{job_id}")
