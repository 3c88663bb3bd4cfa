"""Calls as the gateway's events leave them: started, maybe placed by an outbound run, and quiet
since; for the stale-call sweep's tests."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.events import CallEnded, CallStarted, TranscriptTurn, utc_now
from switchboard.common.models import CallLog, CallSession, OutboundItem
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.domain.calls.logs import setup_call
from switchboard.domain.leads.store import upsert_lead
from switchboard.domain.outbound import runs
from tests.support.factories import unique_phone


def call_sid() -> str:
    """A Twilio-shaped call sid no other test uses."""
    return f"CA{uuid.uuid4().hex}"


def started_call(
    business_id: int,
    business_phone: str,
    *,
    quiet_for: timedelta,
    sid: str | None = None,
    run_id: int | None = None,
    item_id: int | None = None,
) -> str:
    """A call whose ``call.started`` was applied (its log, session and lead exist) and that has
    heard nothing since ``quiet_for`` ago; its sid."""
    sid = sid or call_sid()
    started = CallStarted(
        business_id=business_id,
        call_sid=sid,
        stream_sid=f"MZ{sid[2:]}",
        direction="outbound" if run_id else "inbound",
        from_number=unique_phone(),
        to_number=business_phone,
        started_at=utc_now() - quiet_for,
        run_id=run_id,
        item_id=item_id,
    )
    enqueue_follow_ups(started)
    setup_call(
        business_id,
        call_sid=sid,
        direction=started.direction,
        started_at=started.started_at.isoformat(),
        run_id=run_id,
        item_id=item_id,
    )
    quiet_since(business_id, sid, quiet_for)
    return sid


def quiet_since(business_id: int, sid: str, quiet_for: timedelta) -> None:
    """The call's log last changed ``quiet_for`` ago."""
    with tenant_session(business_id) as session:
        session.execute(
            update(CallLog)
            .where(CallLog.business_id == business_id, CallLog.call_sid == sid)
            .values(updated_at=utcnow() - quiet_for)
        )


def call_ended(business_id: int, business_phone: str, sid: str) -> CallEnded:
    """The gateway's real ``call.ended`` for the call, two minutes long."""
    ended_at = utc_now()
    return CallEnded(
        business_id=business_id,
        call_sid=sid,
        stream_sid=f"MZ{sid[2:]}",
        direction="inbound",
        from_number=unique_phone(),
        to_number=business_phone,
        started_at=ended_at - timedelta(minutes=2),
        ended_at=ended_at,
        duration_s=120.0,
        end_reason="caller_hung_up",
        transcript=[TranscriptTurn(role="caller", text="Thanks, bye.", at=ended_at)],
    )


def dialed_item(
    business_id: int, sid: str, *, status: str, last_call_status: str, quiet_for: timedelta
) -> tuple[int, int]:
    """A run's item whose call ``sid`` Twilio took, as the outbound domain left it; its run
    and item ids."""
    with tenant_session(business_id) as session:
        lead, _ = upsert_lead(session, business_id, unique_phone())
    run = runs.create_run(business_id, runs.NewRun(name="Check-ups", lead_ids=[lead.id]))
    (item,) = runs.list_items(business_id, run.run.id)
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.business_id == business_id, OutboundItem.id == item.id)
            .values(
                status=status,
                call_sid=sid,
                last_call_status=last_call_status,
                attempts=1,
                calls_placed=1,
                updated_at=utcnow() - quiet_for,
            )
        )
    return run.run.id, item.id


def call_of(business_id: int, sid: str) -> CallLog:
    with tenant_session(business_id) as session:
        (call,) = session.execute(
            select(CallLog).where(CallLog.business_id == business_id, CallLog.call_sid == sid)
        ).scalars()
        return call


def session_of(business_id: int, sid: str) -> CallSession:
    with tenant_session(business_id) as session:
        (call_session,) = session.execute(
            select(CallSession).where(
                CallSession.business_id == business_id, CallSession.call_sid == sid
            )
        ).scalars()
        return call_session


def item_of(business_id: int, item_id: int) -> Any:
    with tenant_session(business_id) as session:
        return session.execute(
            select(OutboundItem.status, OutboundItem.last_call_status, OutboundItem.error).where(
                OutboundItem.business_id == business_id, OutboundItem.id == item_id
            )
        ).one()
