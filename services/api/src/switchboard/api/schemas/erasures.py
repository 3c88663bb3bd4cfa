"""Erasure requests: a person's data, erased on request (GDPR art. 17)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.api.schemas.common import Page, Phone, RequestBody, Timestamp
from switchboard.domain.erasures import ERASED_KINDS

KINDS = ", ".join(ERASED_KINDS)


class ErasureCreate(RequestBody):
    phone: Phone


class ErasurePublic(BaseModel):
    """An erasure never shows its number: while it runs the number is held for the job only,
    and once done only a keyed hash of it is kept."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    status: Literal["pending", "running", "done"] = Field(examples=["pending"])
    counts: dict[str, int] = Field(
        examples=[{"leads": 1, "calls": 2, "recordings": 1}],
        description=f"What was erased so far, per kind: {KINDS}",
    )
    job_id: str | None = Field(None, description="The job that erases (GET /api/v1/jobs/{id})")
    created_at: Timestamp
    finished_at: Timestamp | None = None


class ErasureAccepted(ErasurePublic):
    repeated: bool = Field(
        False, description="True when this answers an unfinished erasure of the same number"
    )


class ErasurePage(Page[ErasurePublic]):
    pass
