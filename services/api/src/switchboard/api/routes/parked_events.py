"""Parked call events (admin): list them and replay them once their cause is fixed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from switchboard.api.deps import AdminOnly
from switchboard.api.events import parking
from switchboard.api.schemas import ErrorResponse
from switchboard.api.schemas.common import Timestamp, UrlInteger
from switchboard.common.ids import MAX_ID
from switchboard.domain.calls.followups import enqueue_follow_ups

router = APIRouter(prefix="/api/v1/admin/parked-events", tags=["admin"], dependencies=[AdminOnly])
_ADMIN: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse, "description": "Not the admin key"},
}
ParkedId = Annotated[UrlInteger, Path(ge=1, le=MAX_ID, description="The parked event's row id")]


class ParkedEventPublic(BaseModel):
    """A parked event: what it is and why it failed, without its body (the call sid masked)."""

    id: int
    event_id: str
    event_type: str | None = Field(description="None when the body was not a call event")
    business_id: int | None = Field(description="The business the event names, if readable")
    call_sid: str | None = Field(description="Masked: the prefix and last four characters")
    error: str
    failures: int
    parked_at: Timestamp
    failed_at: Timestamp


class ParkedEventPage(BaseModel):
    """How many events are parked, and the newest of them."""

    count: int
    items: list[ParkedEventPublic]


class ReplayFailure(BaseModel):
    event_id: str
    error: str


class ReplayResult(BaseModel):
    """The events handled (and removed from the parking) and those that failed again."""

    replayed: list[str]
    failed: list[ReplayFailure]
    remaining: int


def _result(report: parking.ReplayReport) -> ReplayResult:
    return ReplayResult(
        replayed=report.replayed,
        failed=[ReplayFailure(event_id=event_id, error=error) for event_id, error in report.failed],
        remaining=parking.count_parked(),
    )


@router.get("", summary="List parked call events", response_model=ParkedEventPage, responses=_ADMIN)
def list_parked(limit: Annotated[UrlInteger, Query(ge=1, le=500)] = 100) -> ParkedEventPage:
    """The count of parked call events and the newest ``limit`` of them."""
    return ParkedEventPage(
        count=parking.count_parked(),
        items=[
            ParkedEventPublic.model_validate(view, from_attributes=True)
            for view in parking.list_parked(limit=limit)
        ],
    )


@router.post(
    "/replay", summary="Replay parked call events", response_model=ReplayResult, responses=_ADMIN
)
def replay_all(limit: Annotated[UrlInteger, Query(ge=1, le=1000)] = 100) -> ReplayResult:
    """Handle up to ``limit`` parked events again, oldest first; those handled leave the
    parking, the others keep it with their new error. An event is never handled twice: its
    follow-up jobs are keyed by its id."""
    return _result(parking.replay_parked(enqueue_follow_ups, limit=limit))


@router.post(
    "/{parked_id}/replay",
    summary="Replay one parked call event",
    response_model=ReplayResult,
    responses={**_ADMIN, 404: {"model": ErrorResponse, "description": "No such parked event"}},
)
def replay_one(parked_id: ParkedId) -> ReplayResult:
    """Handle one parked event again."""
    report = parking.replay_parked(enqueue_follow_ups, parked_id=parked_id)
    if not report.replayed and not report.failed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no parked event {parked_id}")
    return _result(report)
