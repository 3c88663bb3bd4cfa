"""The caller's job ledger: list, get, cancel, retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import Field

from switchboard.api.deps import CurrentBusiness
from switchboard.api.idempotency import Idempotent
from switchboard.api.pagination import TimePaging, encode_cursor
from switchboard.api.params import CONFLICT, NOT_FOUND, JobId
from switchboard.api.schemas import (
    ErrorResponse,
    JobPage,
    JobPublic,
    JobStatus,
    Storable,
)
from switchboard.common.jobs import service

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses={401: {"model": ErrorResponse}})
_NOT_FOUND = NOT_FOUND
#: What a prefix of a UUID can hold: typing part of an id never turns into a pattern.
ID_PREFIX_PATTERN = "^[0-9a-fA-F-]+$"


@router.get("", summary="List jobs", response_model=JobPage)
def list_jobs(
    business_id: CurrentBusiness,
    page: TimePaging,
    status_: JobStatus | None = Query(None, alias="status"),
    actor: Annotated[str, Field(min_length=1, max_length=100), Storable] | None = Query(
        None,
        description="Only this actor's jobs (the job's `actor_name`)",
        examples=["whatsapp_send_job"],
    ),
    id_prefix: str | None = Query(
        None,
        min_length=4,
        max_length=36,
        pattern=ID_PREFIX_PATTERN,
        description="Only jobs whose id starts with this (at least 4 hex digits or dashes)",
        examples=["3f2a"],
    ),
) -> JobPage:
    """This business's jobs, newest first."""
    found = service.list_jobs(
        business_id,
        status=status_,
        actor=actor,
        id_prefix=id_prefix,
        limit=page.limit,
        after=page.after,
    )
    return JobPage(
        items=[JobPublic.model_validate(j) for j in found.items],
        next_cursor=encode_cursor(*found.next_cursor) if found.next_cursor else None,
    )


@router.get("/{job_id}", summary="Get a job", response_model=JobPublic, responses=_NOT_FOUND)
def get_job(business_id: CurrentBusiness, job_id: JobId) -> JobPublic:
    """One job."""
    return JobPublic.model_validate(service.get_job(business_id, job_id))


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a job",
    dependencies=[Idempotent],
    response_model=JobPublic,
    responses={
        **_NOT_FOUND,
        **CONFLICT,
        202: {
            "model": JobPublic,
            "description": "The job is running: asked to stop (`cancel_requested`); its "
            "status turns `cancelled` once it has stopped",
        },
    },
)
def cancel(business_id: CurrentBusiness, job_id: JobId, response: Response) -> JobPublic:
    """Cancel a queued job (200, ``cancelled``) or ask a running one to stop (202); 409 if it
    already ended."""
    job = JobPublic.model_validate(service.cancel_job(business_id, job_id))
    if job.status == "running":
        response.status_code = status.HTTP_202_ACCEPTED
    return job


@router.post(
    "/{job_id}/retry",
    summary="Retry a job",
    dependencies=[Idempotent],
    response_model=JobPublic,
    responses={**_NOT_FOUND, **CONFLICT},
)
def retry(business_id: CurrentBusiness, job_id: JobId) -> JobPublic:
    """Queue a dead, failed or cancelled job again."""
    return JobPublic.model_validate(service.retry_job(business_id, job_id))
