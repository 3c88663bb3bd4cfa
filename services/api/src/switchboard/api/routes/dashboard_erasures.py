"""The console's erasures: request one (GDPR art. 17) and follow them, with their counts.

The same domain functions as ``/api/v1/erasures``. No page shows an erasure's number: while
it runs the number is held for the job only, and once done only a keyed hash of it is kept
(``domain/erasures``); the form's number goes into the request and is not echoed back, but
for a number that is not one, which the page gives back to be corrected.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field

from switchboard.api.dashboard.console import layout, logged_in, next_cursor, not_found
from switchboard.api.dashboard.rendering import page
from switchboard.api.dashboard.session import check_csrf
from switchboard.api.deps import SettingsDep
from switchboard.api.pagination import decode_id_cursor
from switchboard.api.schemas import Storable, Text, UrlInteger
from switchboard.common.errors import NotFoundError
from switchboard.common.ids import MAX_ID
from switchboard.common.phone import is_e164
from switchboard.domain import erasures
from switchboard.domain.own_number import OwnNumberError

router = APIRouter(prefix="/dashboard/erasures", include_in_schema=False)
ErasureId = Annotated[UrlInteger, Path(ge=1, le=MAX_ID)]
Cursor = Annotated[str, Field(max_length=100), Storable] | None
CsrfToken = Annotated[Text, Form(max_length=100)]
PhoneField = Annotated[Text, Form(max_length=40)]
ACTIVE = "/dashboard/erasures"
PAGE_SIZE = 50
#: What a redirect after the form says; the query names one of these, never free text.
NOTICES = {
    "requested": "Erasure requested: a job erases the person's data now.",
    "repeated": "An erasure of this number is already under way: this is it.",
}
NOT_A_NUMBER = "Not a phone number in E.164 form (a + and 8 to 15 digits, e.g. +15551234567)."


def _list_page(
    request: Request,
    settings: SettingsDep,
    cursor: str | None = None,
    *,
    error: str | None = None,
    phone: str = "",
) -> HTMLResponse:
    session, business_id = logged_in(request, settings)
    found = erasures.list_erasures(business_id, limit=PAGE_SIZE, after=decode_id_cursor(cursor))
    context = layout(session, ACTIVE, erasures=found.items, error=error, phone=phone)
    code = status.HTTP_200_OK if error is None else 422
    return page(
        request, "erasures.html", code, next_cursor=next_cursor(found.next_after), **context
    )


@router.get("", response_class=HTMLResponse)
def erasures_page(request: Request, settings: SettingsDep, cursor: Cursor = None) -> HTMLResponse:
    """The form to request an erasure, above the business's erasures, newest first."""
    return _list_page(request, settings, cursor)


@router.post("", response_class=HTMLResponse)
def request_erasure(
    request: Request, settings: SettingsDep, csrf_token: CsrfToken, phone: PhoneField
) -> Response:
    """Request the erasure of everything held about the person with this number, then show
    it (an unfinished one of the same number is shown instead: it erases the same)."""
    session, business_id = logged_in(request, settings)
    check_csrf(session, csrf_token)
    phone = phone.strip()
    if not is_e164(phone):
        return _list_page(request, settings, error=NOT_A_NUMBER, phone=phone)
    try:
        requested = erasures.request_erasure(business_id, phone)
    except OwnNumberError as exc:
        return _list_page(request, settings, error=f"The number {exc}.", phone=phone)
    notice = "repeated" if requested.repeated else "requested"
    return RedirectResponse(
        f"/dashboard/erasures/{requested.erasure.id}?done={notice}", status.HTTP_303_SEE_OTHER
    )


@router.get("/{erasure_id}", response_class=HTMLResponse)
def erasure_page(
    request: Request,
    settings: SettingsDep,
    erasure_id: ErasureId,
    done: Annotated[Literal["requested", "repeated"] | None, Query()] = None,
) -> HTMLResponse:
    """One erasure: its status, its job and what it erased so far, per kind."""
    session, business_id = logged_in(request, settings)
    try:
        erasure = erasures.get_erasure(business_id, erasure_id)
    except NotFoundError as exc:
        raise not_found(exc) from exc
    notice = NOTICES[done] if done else None
    context = layout(session, ACTIVE, erasure=erasure, kinds=erasures.ERASED_KINDS)
    return page(request, "erasure.html", notice=notice, **context)
