"""Rows the API only reads (calls, conversations, runs), written as the services would."""

from __future__ import annotations

import itertools
import os
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.models import (
    CallLog,
    CallSession,
    Lead,
    OutboundItem,
    OutboundRun,
    Recording,
    WebhookDelivery,
    WhatsAppConversation,
    WhatsAppMessage,
)
from tests.fakes.web_push import BrowserSubscription
from tests.support import private_data
from tests.support.factories import unique_phone

_sids = itertools.count(1)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def push_keys() -> dict[str, str]:
    """A new browser's push keys, as ``PushSubscription.toJSON()`` gives them."""
    key, secret = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
    keys: dict[str, str] = BrowserSubscription("", key, secret).as_subscription_info()["keys"]
    return keys


def _add(business_id: int, row: Any) -> Any:
    with tenant_session(business_id) as session:
        session.add(row)
        session.flush()
        return row


def lead(business_id: int, **fields: Any) -> Lead:
    private_data.register(fields.get("name"), fields.get("email"))
    return _add(business_id, Lead(business_id=business_id, **{"phone": unique_phone(), **fields}))


def call(business_id: int, **fields: Any) -> CallLog:
    values: dict[str, Any] = {
        "call_sid": f"CA{next(_sids):032d}",
        "direction": "inbound",
        "from_number": unique_phone(),
        "to_number": "+15550000000",
        "status": "completed",
        "end_reason": "caller_hung_up",
        "transcript": [{"role": "agent", "text": "Hello!"}, {"role": "caller", "text": "Hi"}],
        **fields,
    }
    return _add(business_id, CallLog(business_id=business_id, **values))


def recording(
    business_id: int, call_log: CallLog, *, status: str = "stored", storage_key: str | None = None
) -> Recording:
    return _add(
        business_id,
        Recording(
            business_id=business_id,
            recording_sid=f"RE{next(_sids):032d}",
            call_sid=call_log.call_sid,
            call_log_id=call_log.id,
            status=status,
            storage_key=storage_key,
            duration_s=12.5,
        ),
    )


def delivery(business_id: int, endpoint_id: int, status: str = "delivered") -> WebhookDelivery:
    """One logged delivery attempt, as the webhook worker writes it."""
    return _add(
        business_id,
        WebhookDelivery(
            business_id=business_id,
            endpoint_id=endpoint_id,
            event_type="call.ended",
            event_id=f"ev{next(_sids)}",
            payload={"type": "call.ended"},
            status=status,
            attempt=1,
            response_status=200 if status == "delivered" else 503,
        ),
    )


def live_call(business_id: int) -> CallSession:
    return _add(
        business_id,
        CallSession(
            business_id=business_id,
            call_sid=f"CA{next(_sids):032d}",
            state="active",
            started_at=utcnow(),
        ),
    )


def conversation(business_id: int, **fields: Any) -> WhatsAppConversation:
    values = {"contact_number": unique_phone(), "business_number": "+15550000000", **fields}
    return _add(business_id, WhatsAppConversation(business_id=business_id, **values))


def written_conversation(business_id: int, **fields: Any) -> WhatsAppConversation:
    """A conversation whose contact has just written: WhatsApp's 24-hour window is open."""
    opened = conversation(business_id, **fields)
    message(business_id, opened.id)
    return opened


def message(
    business_id: int, conversation_id: int, body: str = "hi", **fields: Any
) -> WhatsAppMessage:
    values = {"direction": "in", "status": "received", **fields}
    return _add(
        business_id,
        WhatsAppMessage(
            business_id=business_id, conversation_id=conversation_id, body=body, **values
        ),
    )


def running_run(business_id: int, items: int, *, heartbeat_age_s: float = 0) -> OutboundRun:
    """A run that is running with ``items`` pending items and a heartbeat of the given age."""
    now = utcnow()
    with tenant_session(business_id) as session:
        run = OutboundRun(
            business_id=business_id,
            name="Spring check-ups",
            status="running",
            started_at=now,
            heartbeat_at=now - timedelta(seconds=heartbeat_age_s),
            lease_expires_at=now + timedelta(seconds=60),
        )
        session.add(run)
        session.flush()
        for _ in range(items):
            target = Lead(business_id=business_id, phone=unique_phone())
            session.add(target)
            session.flush()
            session.add(
                OutboundItem(
                    business_id=business_id,
                    run_id=run.id,
                    lead_id=target.id,
                    phone=target.phone,
                    status="pending",
                )
            )
        return run


def advance_run(business_id: int, run_id: int, done: int, dialing: int) -> None:
    """Mark ``done`` items completed and the next ``dialing`` in flight; beat the heartbeat."""
    with tenant_session(business_id) as session:
        ids = (
            session.execute(
                select(OutboundItem.id)
                .where(OutboundItem.business_id == business_id, OutboundItem.run_id == run_id)
                .order_by(OutboundItem.id)
            )
            .scalars()
            .all()
        )
        for index, item_id in enumerate(ids):
            status = (
                "completed" if index < done else "dialing" if index < done + dialing else "pending"
            )
            session.execute(
                update(OutboundItem)
                .where(OutboundItem.id == item_id)
                .values(
                    status=status,
                    attempts=0 if status == "pending" else 1,
                    call_sid=None if status == "pending" else f"CA{item_id:032d}",
                    placed_at=None if status == "pending" else utcnow(),
                )
            )
        session.execute(
            update(OutboundRun)
            .where(OutboundRun.business_id == business_id, OutboundRun.id == run_id)
            .values(heartbeat_at=utcnow(), lease_expires_at=utcnow() + timedelta(seconds=60))
        )


def finish_run(business_id: int, run_id: int) -> None:
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundRun)
            .where(OutboundRun.business_id == business_id, OutboundRun.id == run_id)
            .values(status="completed", finished_at=utcnow(), lease_owner=None)
        )
