"""Request and response models of the API skeleton (Base/Create/Public per resource)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

E164 = r"^\+[1-9]\d{6,14}$"
JobStatus = Literal["queued", "running", "succeeded", "failed", "dead", "cancelled"]


class BusinessBase(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Acme Dental"])
    phone_number: str = Field(pattern=E164, examples=["+15551234567"], description="E.164")
    timezone: str = Field(default="UTC", examples=["Europe/London"])

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like 'Europe/London')")
        return value


class BusinessCreate(BusinessBase):
    pass


class BusinessPublic(BusinessBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    recording_enabled: bool
    max_call_seconds: int
    outbound_concurrency_cap: int
    created_at: datetime


class BusinessCreated(BaseModel):
    business: BusinessPublic
    api_key: str = Field(description="Shown once; store it now.")


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    queue_name: str
    actor_name: str
    status: JobStatus
    attempts: int
    deliveries: int
    run_id: int | None
    dedup_key: str | None
    progress: float | None
    progress_message: str | None
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None


class JobPage(BaseModel):
    items: list[JobPublic]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )


class ErrorResponse(BaseModel):
    detail: str | list[dict[str, object]]
