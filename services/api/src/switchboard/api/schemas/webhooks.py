"""Outgoing webhook endpoints and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from switchboard.api.schemas.common import Page, Patch, Text, Timestamp

Kind = Literal["generic", "n8n"]
EventName = Annotated[Text, Field(max_length=100)]


class WebhookEndpointBase(BaseModel):
    kind: Kind = Field("generic", examples=["n8n"])
    events: list[EventName] | None = Field(
        None,
        max_length=50,
        description="Event types to send; null means all",
        examples=[["call.ended", "lead.created"]],
    )
    active: bool = True


class WebhookEndpointCreate(WebhookEndpointBase):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(examples=["https://hooks.example.com/switchboard"])


class WebhookEndpointUpdate(Patch):
    """Only the fields given change; ``events: null`` means every event."""

    nullable = frozenset({"events"})

    url: AnyHttpUrl | None = None
    kind: Kind | None = None
    events: list[EventName] | None = Field(None, max_length=50)
    active: bool | None = None
    rotate_secret: bool = Field(False, description="Issue a new signing secret (shown once)")


class WebhookEndpointPublic(WebhookEndpointBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
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
    status: str = Field(examples=["pending"], description="pending, delivered, failed, ...")
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
