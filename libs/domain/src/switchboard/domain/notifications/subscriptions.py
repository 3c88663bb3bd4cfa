"""A business's Web Push subscriptions (the dashboard's browsers that get notifications).

A subscription's endpoint is an address the tenant chose: it passes the outbound-address
policy when it is stored (a ``RefusedAddressError`` naming ``endpoint``) and at every push.

A subscription is the browser of the API key that registered it, a member of the business:
only a live key's subscriptions are pushed (:func:`pushed`), and revoking the key deletes them
(``businesses.accounts.revoke_api_key``). The same browser in two businesses is a subscription
in each, each told only its own business's notifications; registered again in the same
business with another key, it moves to that key.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, delete, exists, select

from switchboard.common.db.base import utcnow
from switchboard.common.db.keyset import Page, fetch_page
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.integrations.address_policy import PUSH_SCHEMES, AddressPolicy
from switchboard.common.models import ApiKey, PushSubscription


def pushed(business_id: int) -> ColumnElement[bool]:
    """Whether a subscription is one of ``business_id``'s that are pushed: its API key is the
    business's and live. One registered before subscriptions had keys is not."""
    return and_(
        PushSubscription.business_id == business_id,
        exists().where(
            ApiKey.id == PushSubscription.api_key_id,
            ApiKey.business_id == business_id,
            ApiKey.revoked_at.is_(None),
        ),
    )


def subscribe(
    business_id: int,
    api_key_id: int,
    endpoint: str,
    p256dh: str,
    auth: str,
    label: str | None,
    *,
    policy: AddressPolicy,
) -> tuple[PushSubscription, bool]:
    """Store the browser of ``api_key_id`` (the business's key that made the request) if
    ``policy`` admits its endpoint; the same endpoint again refreshes its keys and moves it
    to ``api_key_id``.

    Returns the subscription and whether this call created it.
    """
    policy.require_registrable(endpoint, field="endpoint", schemes=PUSH_SCHEMES)
    now = utcnow()
    with tenant_session(business_id) as session:
        created = insert_ignoring_conflicts(
            session,
            PushSubscription.__table__,  # type: ignore[arg-type]
            {
                "business_id": business_id,
                "api_key_id": api_key_id,
                "endpoint": endpoint,
                "p256dh": p256dh,
                "auth": auth,
                "label": label,
                "created_at": now,
                "updated_at": now,
            },
        )
        subscription = session.execute(
            select(PushSubscription).where(
                PushSubscription.business_id == business_id, PushSubscription.endpoint == endpoint
            )
        ).scalar_one()
        if not created:
            subscription.p256dh, subscription.auth = p256dh, auth
            subscription.api_key_id = api_key_id
            subscription.label = label if label is not None else subscription.label
        return subscription, created


def list_subscriptions(
    business_id: int, *, limit: int = 50, after: int | None = None
) -> Page[PushSubscription]:
    """This business's subscriptions, newest first."""
    query = select(PushSubscription).where(PushSubscription.business_id == business_id)
    with tenant_session(business_id) as session:
        return fetch_page(session, query, PushSubscription.id, limit=limit, after=after)


def get_subscription(business_id: int, subscription_id: int) -> PushSubscription:
    """One subscription of this business."""
    with tenant_session(business_id) as session:
        return owned_row(
            session, PushSubscription, business_id, subscription_id, what="subscription"
        )


def unsubscribe(business_id: int, subscription_id: int) -> None:
    """Delete a subscription."""
    with tenant_session(business_id) as session:
        owned_row(session, PushSubscription, business_id, subscription_id, what="subscription")
        session.execute(
            delete(PushSubscription).where(
                PushSubscription.business_id == business_id,
                PushSubscription.id == subscription_id,
            )
        )
