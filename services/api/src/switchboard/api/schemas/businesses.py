"""Businesses: creation (admin), the caller's own business and its agent settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchboard.api.schemas.common import (
    Boolean,
    Integer,
    Page,
    Patch,
    Phone,
    RequestBody,
    Storable,
    Text,
    Timestamp,
)
from switchboard.common.jobs import catalog
from switchboard.domain.businesses import timezones


def _known_timezone(value: str | None) -> str | None:
    problem = None if value is None else timezones.time_zone_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class BusinessBase(BaseModel):
    name: Text = Field(min_length=1, max_length=200, examples=["Acme Dental"])
    phone_number: Phone
    timezone: Text = Field(default="UTC", max_length=64, examples=["Europe/London"])

    _timezone = field_validator("timezone")(_known_timezone)


class BusinessCreate(BusinessBase, RequestBody):
    pass


class BusinessPublic(BusinessBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    recording_enabled: bool
    max_call_seconds: int
    outbound_concurrency_cap: int
    created_at: Timestamp


class BusinessCreated(BaseModel):
    business: BusinessPublic
    api_key: str = Field(description="Shown once; store it now.")


#: The AI providers a business's calls may use; None: the deployment's ``AI_PROVIDER``.
AIProvider = Literal["openai", "gemini", "offline"]
_AI_PROVIDER_HELP = (
    "The AI provider of this business's calls: openai, gemini or offline; "
    "null: the deployment's default (AI_PROVIDER)."
)


class AgentSettingsBase(BaseModel):
    agent_name: Text = Field(min_length=1, max_length=100, examples=["Ava"])
    greeting: Text = Field(max_length=2000, examples=["Hi, this is Ava from Acme Dental."])
    instructions: Text = Field(max_length=20_000, examples=["Book check-ups; never give prices."])
    voice: Text = Field(min_length=1, max_length=50, examples=["alloy"])
    language: Text = Field(min_length=2, max_length=16, examples=["en"])
    silence_timeout_s: Integer = Field(ge=2, le=120, examples=[8])
    ai_provider: AIProvider | None = Field(None, description=_AI_PROVIDER_HELP, examples=["gemini"])


class AgentSettingsPublic(AgentSettingsBase):
    model_config = ConfigDict(from_attributes=True)

    updated_at: Timestamp


class AgentSettingsUpdate(Patch):
    """Only the fields given change."""

    nullable = frozenset({"ai_provider"})

    agent_name: Annotated[str, Field(min_length=1, max_length=100), Storable] | None = Field(
        None, examples=["Ava"]
    )
    greeting: Annotated[str, Field(max_length=2000), Storable] | None = None
    instructions: Annotated[str, Field(max_length=20_000), Storable] | None = None
    voice: Annotated[str, Field(min_length=1, max_length=50), Storable] | None = None
    language: Annotated[str, Field(min_length=2, max_length=16), Storable] | None = None
    silence_timeout_s: Integer | None = Field(None, ge=2, le=120)
    ai_provider: AIProvider | None = Field(None, description=_AI_PROVIDER_HELP)


#: A business's limit on its jobs executing at once in one queue (fair share).
JobLimit = Annotated[Integer, Field(ge=1, le=10_000)]
_JOB_CONCURRENCY_HELP = (
    "This business's own limits on its jobs executing at once, by queue, over the "
    "deployment's (JOB_BUSINESS_CONCURRENCY); queues not named keep the deployment's."
)


def _known_queues(value: dict[str, int | None] | None) -> dict[str, int | None] | None:
    unknown = sorted(set(value or ()) - set(catalog.queues()))
    if unknown:
        raise ValueError(
            f"unknown queue(s) {', '.join(unknown)} (known: {', '.join(catalog.queues())})"
        )
    return value


class BusinessDetail(BusinessPublic):
    """A business with its agent settings."""

    whatsapp_concurrency: int
    job_concurrency: dict[str, int] = Field(description=_JOB_CONCURRENCY_HELP)
    agent: AgentSettingsPublic


class BusinessSelfUpdate(Patch):
    """What a business may change about itself; the prompt is rebuilt afterwards."""

    name: Annotated[str, Field(min_length=1, max_length=200), Storable] | None = None
    timezone: Annotated[str, Field(max_length=64), Storable] | None = Field(
        None, examples=["Europe/London"]
    )
    recording_enabled: Boolean | None = None
    max_call_seconds: Integer | None = Field(None, ge=30, le=14_400)
    agent: AgentSettingsUpdate | None = None

    _timezone = field_validator("timezone")(_known_timezone)


class BusinessAdminUpdate(BusinessSelfUpdate):
    """What an admin may change about any business."""

    phone_number: Phone | None = None
    outbound_concurrency_cap: Integer | None = Field(None, ge=1, le=1000)
    whatsapp_concurrency: Integer | None = Field(None, ge=1, le=100)
    job_concurrency: dict[str, JobLimit | None] | None = Field(
        None,
        description=_JOB_CONCURRENCY_HELP + " A queue given null goes back to the deployment's.",
        examples=[{"analysis": 2, "whatsapp": None}],
    )

    _queues = field_validator("job_concurrency")(_known_queues)


class BusinessPage(Page[BusinessPublic]):
    pass
