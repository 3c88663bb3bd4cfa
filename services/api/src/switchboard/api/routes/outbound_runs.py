"""Outbound call runs: create, list, get, start exactly once, cancel, items."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from switchboard.api.deps import CurrentBusiness
from switchboard.api.idempotency import Idempotent
from switchboard.api.pagination import Cursor, Paging, decode_id_cursor, encode_cursor
from switchboard.api.params import CONFLICT, NOT_FOUND, object_id
from switchboard.api.schemas import ErrorResponse, IdList, Integer, Storable, Text, UrlInteger
from switchboard.api.schemas.common import RequestBody, Timestamp
from switchboard.domain.leads.statuses import LeadStatus
from switchboard.domain.outbound import console, runs

RunId = Annotated[UrlInteger, object_id("The outbound run's id")]

router = APIRouter(
    prefix="/api/v1/outbound-runs",
    tags=["outbound runs"],
    responses={401: {"model": ErrorResponse}},
)
_404 = NOT_FOUND
_409 = CONFLICT


def _wall_clock(value: time) -> time:
    """A calling window's bound: a time of day in the business's zone, to the minute (it is
    stored as HH:MM, so an offset or seconds would be dropped without a word)."""
    if value.tzinfo is not None:
        raise PydanticCustomError(
            "time_offset",
            "is read in the business's time zone: give it without an offset, like 09:00",
        )
    if value.second or value.microsecond:
        raise PydanticCustomError("time_seconds", "is kept to the minute: give HH:MM, like 09:00")
    return value


def _not_end_of_day(value: object) -> object:
    # ISO 8601's 24:00 is a natural way to say "until midnight"; the parser would only say
    # the hour is out of range.
    if isinstance(value, str) and value.startswith("24:"):
        raise PydanticCustomError(
            "time_end_of_day",
            "uses 24:00, which is not a time of day: a window that ends at midnight ends at "
            "00:00 (an end before the start spans midnight)",
        )
    return value


#: A bound of a calling window: ``HH:MM``, no offset, no seconds.
WindowTime = Annotated[time, BeforeValidator(_not_end_of_day), AfterValidator(_wall_clock)]


class LeadFilter(RequestBody):
    status: LeadStatus | None = Field(None, examples=["new"])
    source: Annotated[str, Field(max_length=32), Storable] | None = Field(None, examples=["csv"])


class RetryPolicy(RequestBody):
    max_attempts: Integer = Field(
        1, ge=1, le=5, description="Dial attempts per lead (busy / no-answer retry)"
    )
    retry_delay_s: Integer = Field(300, ge=0, le=86_400)


class OutboundRunCreate(RequestBody):
    name: Text = Field(min_length=1, max_length=200, examples=["Spring check-ups"])
    lead_ids: IdList | None = None
    filter: LeadFilter | None = None
    concurrency: Integer = Field(
        1, ge=1, le=100, description="Calls at once; at most the business's cap"
    )
    window_start: WindowTime | None = Field(
        None,
        description="Calling window start, HH:MM in the business's time zone",
        examples=["09:00"],
    )
    window_end: WindowTime | None = Field(
        None,
        description="Calling window end, HH:MM (before the start: the window spans midnight)",
        examples=["18:00"],
    )
    retry_policy: RetryPolicy = RetryPolicy()

    @field_validator("window_end")
    @classmethod
    def _a_window_with_length(cls, end: time | None, info: ValidationInfo) -> time | None:
        if end is not None and end == info.data.get("window_start"):
            raise PydanticCustomError(
                "empty_window", "equals window_start: a window with no time would never call"
            )
        return end

    @model_validator(mode="after")
    def _one_selection(self) -> OutboundRunCreate:
        if self.lead_ids is None and self.filter is None:
            raise ValueError("give lead_ids or filter to choose the leads")
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError("give both window_start and window_end, or neither")
        return self


class OutboundRunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    status: Literal["draft", "running", "completed", "cancelled", "failed"]
    concurrency: int
    window_start: str | None
    window_end: str | None
    retry_policy: dict[str, int] | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    end_reason: str | None
    total: int
    placed: int
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    progress: float = Field(description="Share of items in a final state, 0..1")
    active: bool = Field(description="Running with a fresh heartbeat (a live driver)")
    last_error: str | None = Field(
        None, description="Why the latest of its items that failed (or is retried) did"
    )


class OutboundRunPage(BaseModel):
    items: list[OutboundRunPublic]
    next_cursor: str | None


class OutboundItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    lead_id: int | None = Field(description="Null once the lead was erased")
    phone: str = Field(description="Empty once the lead was erased")
    status: Literal["pending", "dialing", "in_progress", "completed", "failed", "cancelled"]
    attempts: int
    call_sid: str | None
    placed_at: Timestamp | None
    completed_at: Timestamp | None
    last_call_status: str | None
    error: str | None


class OutboundItemPage(BaseModel):
    items: list[OutboundItemPublic]
    next_cursor: str | None


def _public(view: runs.RunView, errors: dict[int, str] | None = None) -> OutboundRunPublic:
    """The run as the API shows it; ``errors`` (reasons by run id) is read when not given."""
    if errors is None:
        errors = console.last_errors(view.run.business_id, [view.run.id])
    return OutboundRunPublic.model_validate(
        {
            **{
                c: getattr(view.run, c)
                for c in OutboundRunPublic.model_fields
                if hasattr(view.run, c)
            },
            **view.progress.__dict__,
            "last_error": errors.get(view.run.id),
        }
    )


@router.post(
    "",
    summary="Create an outbound run",
    dependencies=[Idempotent],
    status_code=201,
    response_model=OutboundRunPublic,
    responses={422: {"model": ErrorResponse}},
)
def create(business_id: CurrentBusiness, body: OutboundRunCreate) -> OutboundRunPublic:
    """Create a draft run over the chosen leads."""
    selection = body.filter or LeadFilter()
    view = runs.create_run(
        business_id,
        runs.NewRun(
            name=body.name,
            lead_ids=body.lead_ids,
            lead_status=selection.status,
            lead_source=selection.source,
            concurrency=body.concurrency,
            window_start=body.window_start,
            window_end=body.window_end,
            max_attempts=body.retry_policy.max_attempts,
            retry_delay_s=body.retry_policy.retry_delay_s,
        ),
    )
    return _public(view)


@router.get("", summary="List outbound runs", response_model=OutboundRunPage)
def list_runs(
    business_id: CurrentBusiness,
    page: Paging,
) -> OutboundRunPage:
    """This business's runs, newest first."""
    views = runs.list_runs(business_id, limit=page.limit + 1, after_id=page.after)
    more, views = len(views) > page.limit, views[: page.limit]
    errors = console.last_errors(business_id, (v.run.id for v in views))
    return OutboundRunPage(
        items=[_public(v, errors) for v in views],
        next_cursor=encode_cursor(views[-1].run.id) if more and views else None,
    )


@router.get(
    "/{run_id}", summary="Get an outbound run", response_model=OutboundRunPublic, responses=_404
)
def get_run(business_id: CurrentBusiness, run_id: RunId) -> OutboundRunPublic:
    """One run with its progress."""
    return _public(runs.get_run(business_id, run_id))


@router.post(
    "/{run_id}/start",
    summary="Start an outbound run",
    dependencies=[Idempotent],
    response_model=OutboundRunPublic,
    responses={**_404, **_409},
)
def start(business_id: CurrentBusiness, run_id: RunId) -> OutboundRunPublic:
    """Start a draft run; a second start is a 409, however many arrive at once."""
    return _public(runs.start_run(business_id, run_id))


@router.post(
    "/{run_id}/cancel",
    summary="Cancel an outbound run",
    dependencies=[Idempotent],
    response_model=OutboundRunPublic,
    responses={**_404, **_409},
)
def cancel(business_id: CurrentBusiness, run_id: RunId) -> OutboundRunPublic:
    """Cancel: once this answers, no new call is placed for the run."""
    return _public(runs.cancel_run(business_id, run_id))


@router.get(
    "/{run_id}/items",
    summary="List an outbound run's items",
    response_model=OutboundItemPage,
    responses=_404,
)
def items(
    business_id: CurrentBusiness,
    run_id: RunId,
    limit: Annotated[UrlInteger, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> OutboundItemPage:
    """The run's items (one per lead) in order."""
    after = decode_id_cursor(cursor)
    rows = runs.list_items(business_id, run_id, limit=limit + 1, after_id=after)
    more, rows = len(rows) > limit, rows[:limit]
    return OutboundItemPage(
        items=[OutboundItemPublic.model_validate(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )
