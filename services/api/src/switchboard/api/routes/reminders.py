"""Reminders: create, list, get, update, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from switchboard.api.deps import CurrentBusiness
from switchboard.api.idempotency import Idempotent
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import NOT_FOUND, UNAUTHORIZED, ReminderId
from switchboard.api.schemas import ReminderCreate, ReminderPage, ReminderPublic, ReminderUpdate
from switchboard.api.schemas.common import Timestamp, UrlInteger
from switchboard.common.ids import MAX_ID
from switchboard.domain.notifications import reminders
from switchboard.domain.notifications.statuses import ReminderStatus

router = APIRouter(prefix="/api/v1/reminders", tags=["reminders"], responses=UNAUTHORIZED)


@router.post(
    "",
    summary="Create a reminder",
    dependencies=[Idempotent],
    response_model=ReminderPublic,
    status_code=status.HTTP_201_CREATED,
)
def create_reminder(business_id: CurrentBusiness, body: ReminderCreate) -> ReminderPublic:
    """Create a pending reminder; ``lead_id`` must be one of this business's leads."""
    return ReminderPublic.model_validate(reminders.create_reminder(business_id, body.model_dump()))


@router.get("", summary="List reminders", response_model=ReminderPage)
def list_reminders(
    business_id: CurrentBusiness,
    page: Paging,
    status_: ReminderStatus | None = Query(None, alias="status"),
    lead_id: Annotated[UrlInteger | None, Query(ge=1, le=MAX_ID)] = None,
    due_before: Timestamp | None = Query(None, examples=["2030-01-02T00:00:00Z"]),
    due_after: Timestamp | None = Query(None, examples=["2030-01-01T00:00:00Z"]),
) -> ReminderPage:
    """This business's reminders, newest first."""
    filters = reminders.ReminderFilter(status_, lead_id, due_before, due_after)
    rows = reminders.list_reminders(business_id, filters, limit=page.limit, after=page.after)
    return to_page(ReminderPage, rows)


@router.get(
    "/{reminder_id}", summary="Get a reminder", response_model=ReminderPublic, responses=NOT_FOUND
)
def get_reminder(business_id: CurrentBusiness, reminder_id: ReminderId) -> ReminderPublic:
    """One reminder."""
    return ReminderPublic.model_validate(reminders.get_reminder(business_id, reminder_id))


@router.patch(
    "/{reminder_id}",
    summary="Update a reminder",
    response_model=ReminderPublic,
    responses=NOT_FOUND,
)
def update_reminder(
    business_id: CurrentBusiness, reminder_id: ReminderId, body: ReminderUpdate
) -> ReminderPublic:
    """Change a reminder; only the fields in the body change."""
    reminder = reminders.update_reminder(business_id, reminder_id, body.changes())
    return ReminderPublic.model_validate(reminder)


@router.delete(
    "/{reminder_id}",
    summary="Delete a reminder",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
)
def delete_reminder(business_id: CurrentBusiness, reminder_id: ReminderId) -> Response:
    """Delete a reminder."""
    reminders.delete_reminder(business_id, reminder_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
