"""Leads: the people a business talks to, one per phone number."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from switchboard.api.schemas.common import (
    Page,
    Patch,
    Phone,
    RequestBody,
    Storable,
    Timestamp,
)
from switchboard.domain.leads.limits import MAX_CHARS
from switchboard.domain.leads.statuses import DEFAULT_STATUS, LEAD_STATUSES, LeadStatus

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
STATUSES = f"One of: {', '.join(LEAD_STATUSES)}"


class LeadBase(BaseModel):
    name: Annotated[str, Field(max_length=MAX_CHARS["name"]), Storable] | None = Field(
        None, examples=["Jane Doe"]
    )
    email: Annotated[str, Field(max_length=MAX_CHARS["email"], pattern=EMAIL), Storable] | None = (
        Field(None, examples=["jane@example.com"])
    )
    intent: Annotated[str, Field(max_length=MAX_CHARS["intent"]), Storable] | None = Field(
        None, examples=["book a check-up"]
    )
    notes: Annotated[str, Field(max_length=MAX_CHARS["notes"]), Storable] | None = Field(
        None, examples=["Prefers mornings."]
    )


class LeadCreate(LeadBase, RequestBody):
    phone: Phone
    status: LeadStatus = Field(DEFAULT_STATUS, examples=["new"])


class LeadUpdate(LeadBase, Patch):
    """Only the fields given change; ``null`` clears name, email, intent or notes."""

    nullable = frozenset({"name", "email", "intent", "notes"})

    phone: Phone | None = None
    status: LeadStatus | None = Field(None, examples=["qualified"])


class LeadPublic(LeadBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    phone: str = Field(examples=["+15551234567"])
    # Plain text: a lead saved before the list was checked may hold another status.
    status: str = Field(examples=["new"], description=STATUSES)
    source: str = Field(examples=["manual"], description="api, import, call, whatsapp, ...")
    summary: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class LeadPage(Page[LeadPublic]):
    pass


class ImportRowError(BaseModel):
    line: int = Field(examples=[3], description="Line in the uploaded file (the header is 1)")
    field: str = Field(examples=["phone"])
    message: str = Field(examples=["'555-1234' is not a phone number in E.164 form"])


class LeadImportResult(BaseModel):
    """Nothing is imported when any row has an error."""

    created: int = Field(examples=[120])
    updated: int = Field(examples=[3])
    errors: list[ImportRowError] = Field(examples=[[]])
