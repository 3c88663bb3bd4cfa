"""Outgoing webhook endpoints: CRUD, their deliveries, and a test delivery."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status

from switchboard.api.deps import CurrentBusiness, SettingsDep
from switchboard.api.idempotency import Idempotent
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import NOT_FOUND, UNAUTHORIZED, EndpointId
from switchboard.api.schemas import (
    WebhookDeliveryPage,
    WebhookEndpointCreate,
    WebhookEndpointPage,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
    WebhookEndpointUpdated,
    WebhookEndpointWithSecret,
    WebhookTestQueued,
)
from switchboard.common.integrations.address_policy import AddressPolicy
from switchboard.domain.webhooks import endpoints
from switchboard.domain.webhooks.statuses import DeliveryStatus

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=UNAUTHORIZED)


@router.post(
    "",
    summary="Register a webhook endpoint",
    dependencies=[Idempotent],
    response_model=WebhookEndpointWithSecret,
    status_code=status.HTTP_201_CREATED,
)
def create_endpoint(
    business_id: CurrentBusiness, body: WebhookEndpointCreate, settings: SettingsDep
) -> WebhookEndpointWithSecret:
    """Register an endpoint; its signing secret is in this response only. A URL that is, or
    resolves to, a private or otherwise non-public address is a 422."""
    policy = AddressPolicy.from_settings(settings)
    endpoint = endpoints.create_endpoint(
        business_id, str(body.url), body.kind, body.events, body.active, policy=policy
    )
    return WebhookEndpointWithSecret.model_validate(endpoint)


@router.get("", summary="List webhook endpoints", response_model=WebhookEndpointPage)
def list_endpoints(business_id: CurrentBusiness, page: Paging) -> WebhookEndpointPage:
    """This business's endpoints, newest first."""
    rows = endpoints.list_endpoints(business_id, limit=page.limit, after=page.after)
    return to_page(WebhookEndpointPage, rows)


@router.get(
    "/{endpoint_id}",
    summary="Get a webhook endpoint",
    response_model=WebhookEndpointPublic,
    responses=NOT_FOUND,
)
def get_endpoint(business_id: CurrentBusiness, endpoint_id: EndpointId) -> WebhookEndpointPublic:
    """One endpoint (without its secret)."""
    return WebhookEndpointPublic.model_validate(endpoints.get_endpoint(business_id, endpoint_id))


@router.patch(
    "/{endpoint_id}",
    summary="Update a webhook endpoint",
    response_model=WebhookEndpointUpdated,
    responses=NOT_FOUND,
)
def update_endpoint(
    business_id: CurrentBusiness,
    endpoint_id: EndpointId,
    body: WebhookEndpointUpdate,
    settings: SettingsDep,
) -> WebhookEndpointUpdated:
    """Change an endpoint; with ``rotate_secret: true`` the response has the new secret."""
    changes = body.changes(exclude={"rotate_secret"})
    if "url" in changes:
        changes["url"] = str(body.url)
    endpoint = endpoints.update_endpoint(
        business_id,
        endpoint_id,
        changes,
        policy=AddressPolicy.from_settings(settings),
        rotate_secret=body.rotate_secret,
    )
    updated = WebhookEndpointUpdated.model_validate(endpoint)
    return updated if body.rotate_secret else updated.model_copy(update={"secret": None})


@router.delete(
    "/{endpoint_id}",
    summary="Delete a webhook endpoint",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
)
def delete_endpoint(business_id: CurrentBusiness, endpoint_id: EndpointId) -> Response:
    """Delete an endpoint and its delivery log."""
    endpoints.delete_endpoint(business_id, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{endpoint_id}/deliveries",
    summary="List an endpoint's deliveries",
    response_model=WebhookDeliveryPage,
    responses=NOT_FOUND,
)
def list_deliveries(
    business_id: CurrentBusiness,
    endpoint_id: EndpointId,
    page: Paging,
    status_: DeliveryStatus | None = Query(None, alias="status", examples=["failed"]),
) -> WebhookDeliveryPage:
    """An endpoint's deliveries, newest first."""
    rows = endpoints.list_deliveries(
        business_id, endpoint_id, status=status_, limit=page.limit, after=page.after
    )
    return to_page(WebhookDeliveryPage, rows)


@router.post(
    "/{endpoint_id}/test",
    summary="Send a test event",
    dependencies=[Idempotent],
    response_model=WebhookTestQueued,
    status_code=status.HTTP_202_ACCEPTED,
    responses=NOT_FOUND,
)
def send_test(business_id: CurrentBusiness, endpoint_id: EndpointId) -> WebhookTestQueued:
    """Queue a signed ``webhook.test`` event for the endpoint; each attempt shows up in its
    deliveries."""
    return WebhookTestQueued.model_validate(
        endpoints.send_test(business_id, endpoint_id), from_attributes=True
    )
