"""The job ledger as the API shows it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.api.schemas.common import Timestamp

JobStatus = Literal["queued", "running", "succeeded", "failed", "dead", "cancelled"]


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    queue_name: str
    actor_name: str
    status: JobStatus
    cancel_requested: bool = Field(
        description="Cancelled while running: the job stops at its next checkpoint"
    )
    attempts: int
    deliveries: int
    run_id: int | None
    dedup_key: str | None
    progress: float | None
    progress_message: str | None
    enqueued_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    last_error: str | None


class JobPage(BaseModel):
    items: list[JobPublic]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )
