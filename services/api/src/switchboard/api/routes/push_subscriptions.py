"""Web Push subscriptions: subscribe a browser, list, get, unsubscribe."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from switchboard.api.deps import CurrentApiKey, CurrentBusiness, SettingsDep
from switchboard.api.idempotency import Idempotent
from switchboard.api.pagination import Paging, to_page
from switchboard.api.params import NOT_FOUND, UNAUTHORIZED, SubscriptionId
from switchboard.api.schemas import (
    PushSubscriptionCreate,
    PushSubscriptionPage,
    PushSubscriptionPublic,
)
from switchboard.common.integrations.address_policy import AddressPolicy
from switchboard.domain.notifications import subscriptions

router = APIRouter(
    prefix="/api/v1/push-subscriptions", tags=["push subscriptions"], responses=UNAUTHORIZED
)


@router.post(
    "",
    summary="Subscribe a browser to push notifications",
    dependencies=[Idempotent],
    response_model=PushSubscriptionPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": PushSubscriptionPublic, "description": "Known endpoint, keys refreshed"}
    },
)
def subscribe(
    business_id: CurrentBusiness,
    api_key_id: CurrentApiKey,
    body: PushSubscriptionCreate,
    response: Response,
    settings: SettingsDep,
) -> PushSubscriptionPublic:
    """Store a browser's push subscription (201), or refresh a known endpoint's keys (200).
    An endpoint that is, or resolves to, a non-public address is a 422.

    The browser is this API key's: it gets the business's notifications while the key is
    live, and revoking the key unsubscribes it. The same browser registered with another of
    the business's keys moves to that key; registered in another business, it is a
    subscription there too, told only that business's notifications."""
    subscription, created = subscriptions.subscribe(
        business_id,
        api_key_id,
        body.endpoint,
        body.keys.p256dh,
        body.keys.auth,
        body.label,
        policy=AddressPolicy.from_settings(settings),
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return PushSubscriptionPublic.model_validate(subscription)


@router.get("", summary="List push subscriptions", response_model=PushSubscriptionPage)
def list_subscriptions(business_id: CurrentBusiness, page: Paging) -> PushSubscriptionPage:
    """This business's subscriptions, newest first."""
    rows = subscriptions.list_subscriptions(business_id, limit=page.limit, after=page.after)
    return to_page(PushSubscriptionPage, rows)


@router.get(
    "/{subscription_id}",
    summary="Get a push subscription",
    response_model=PushSubscriptionPublic,
    responses=NOT_FOUND,
)
def get_subscription(
    business_id: CurrentBusiness, subscription_id: SubscriptionId
) -> PushSubscriptionPublic:
    """One subscription (its keys are never shown)."""
    subscription = subscriptions.get_subscription(business_id, subscription_id)
    return PushSubscriptionPublic.model_validate(subscription)


@router.delete(
    "/{subscription_id}",
    summary="Delete a push subscription",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
)
def unsubscribe(business_id: CurrentBusiness, subscription_id: SubscriptionId) -> Response:
    """Delete a subscription."""
    subscriptions.unsubscribe(business_id, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
