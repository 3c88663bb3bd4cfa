"""A business's API keys (admin): issue a new one, list them, revoke one.

Rotation: issue a new key, move the client to it, then revoke the old one; until it is
revoked the old key keeps working. A revoked key is refused by every API process from the
next request on (keys are checked against the database, never cached).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status

from switchboard.api.deps import AdminOnly
from switchboard.api.params import NOT_FOUND, BusinessId, object_id
from switchboard.api.schemas import ErrorResponse, UrlInteger
from switchboard.api.schemas.api_keys import ApiKeyCreate, ApiKeyIssued, ApiKeyList, ApiKeyPublic
from switchboard.domain.businesses.accounts import issue_api_key, list_api_keys, revoke_api_key

router = APIRouter(
    prefix="/api/v1/businesses/{business_id}/api-keys",
    tags=["businesses"],
    dependencies=[AdminOnly],
)
_ADMIN: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse, "description": "Not the admin key"},
    **NOT_FOUND,
}
KeyId = Annotated[UrlInteger, object_id("The API key's id")]


@router.post(
    "",
    summary="Issue an API key",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyIssued,
    responses=_ADMIN,
)
def create_key(business_id: BusinessId, body: ApiKeyCreate | None = None) -> ApiKeyIssued:
    """Issue a new key for the business; it is in the response and never shown again."""
    issued = issue_api_key(business_id, (body or ApiKeyCreate()).name)
    return ApiKeyIssued(
        id=issued.id,
        name=issued.name,
        prefix=issued.prefix,
        created_at=issued.created_at,
        last_used_at=None,
        revoked_at=None,
        api_key=issued.key,
    )


@router.get("", summary="List a business's API keys", response_model=ApiKeyList, responses=_ADMIN)
def list_keys(business_id: BusinessId) -> ApiKeyList:
    """The business's keys, live and revoked (ids, names and prefixes; never the keys)."""
    return ApiKeyList(items=[ApiKeyPublic.model_validate(k) for k in list_api_keys(business_id)])


@router.delete(
    "/{key_id}",
    summary="Revoke an API key",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ADMIN,
)
def revoke_key(business_id: BusinessId, key_id: KeyId) -> Response:
    """Revoke the key: it stops working at once, with the dashboard sessions opened with it."""
    revoke_api_key(business_id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
