"""Leads: create, list with filters and search, get, update, delete, CSV import."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import Field

from switchboard.api.deps import CurrentBusiness
from switchboard.api.idempotency import Idempotent
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import CONFLICT, NOT_FOUND, UNAUTHORIZED, LeadId
from switchboard.api.schemas import (
    ErrorResponse,
    LeadCreate,
    LeadImportResult,
    LeadPage,
    LeadPublic,
    LeadUpdate,
    Storable,
)
from switchboard.domain.leads import csv_import
from switchboard.domain.leads import store as leads
from switchboard.domain.leads.statuses import LeadStatus

router = APIRouter(prefix="/api/v1/leads", tags=["leads"], responses=UNAUTHORIZED)


@router.post(
    "",
    summary="Create a lead",
    dependencies=[Idempotent],
    status_code=status.HTTP_201_CREATED,
    response_model=LeadPublic,
    responses=CONFLICT,
)
def create_lead(business_id: CurrentBusiness, body: LeadCreate) -> LeadPublic:
    """Create a lead; a second lead with the same phone number is a 409."""
    lead = leads.create_lead(business_id, source="api", **body.model_dump())
    return LeadPublic.model_validate(lead)


@router.get("", summary="List leads", response_model=LeadPage)
def list_leads(
    business_id: CurrentBusiness,
    page: Paging,
    status_: LeadStatus | None = Query(None, alias="status", examples=["new"]),
    source: Annotated[str, Field(max_length=32), Storable] | None = Query(
        None, examples=["import"]
    ),
    q: Annotated[str, Field(max_length=200), Storable] | None = Query(
        None, description="Search name, phone and email"
    ),
) -> LeadPage:
    """This business's leads, newest first."""
    filters = leads.LeadFilter(status=status_, source=source, search=q)
    return to_page(
        LeadPage, leads.list_leads(business_id, filters, limit=page.limit, after=page.after)
    )


@router.post(
    "/import",
    summary="Import leads from CSV",
    dependencies=[Idempotent],
    response_model=LeadImportResult,
    responses={
        400: {
            "model": LeadImportResult | ErrorResponse,
            "description": "Errors by line, nothing imported; or a body that is not a form",
        }
    },
)
def import_leads(
    business_id: CurrentBusiness,
    file: UploadFile = File(
        description="CSV with a header: phone, name, email, intent, status, notes"
    ),
) -> LeadImportResult | JSONResponse:
    """Create or update leads from a CSV file (keyed on phone); all rows or none."""
    data = file.file.read(csv_import.MAX_BYTES + 1)
    if len(data) > csv_import.MAX_BYTES:
        errors = [dataclasses.asdict(csv_import.TOO_LARGE)]
        return JSONResponse({"created": 0, "updated": 0, "errors": errors}, status_code=400)
    outcome = csv_import.import_leads_csv(business_id, data)
    result = LeadImportResult.model_validate(outcome, from_attributes=True)
    if outcome.errors:
        return JSONResponse(result.model_dump(), status_code=status.HTTP_400_BAD_REQUEST)
    return result


@router.get("/{lead_id}", summary="Get a lead", response_model=LeadPublic, responses=NOT_FOUND)
def get_lead(business_id: CurrentBusiness, lead_id: LeadId) -> LeadPublic:
    """One lead."""
    return LeadPublic.model_validate(leads.get_lead(business_id, lead_id))


@router.patch(
    "/{lead_id}",
    summary="Update a lead",
    response_model=LeadPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def update_lead(business_id: CurrentBusiness, lead_id: LeadId, body: LeadUpdate) -> LeadPublic:
    """Change a lead; only the fields in the body change."""
    changes = body.model_dump(exclude_unset=True)
    return LeadPublic.model_validate(leads.update_lead(business_id, lead_id, changes))


@router.delete(
    "/{lead_id}",
    summary="Delete a lead",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**NOT_FOUND, 422: {"model": ErrorResponse}},
)
def delete_lead(business_id: CurrentBusiness, lead_id: LeadId) -> Response:
    """Delete a lead; its calls and conversations stay, no longer linked to it."""
    leads.delete_lead(business_id, lead_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
