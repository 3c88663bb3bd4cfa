"""``/sandbox/v1/calls``: the sandbox adapter hands calls to the simulated callees here.

Served only while telephony is the sandbox (else 404), to holders of ``INTERNAL_API_TOKEN``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Response

from switchboard.common.integrations.sandbox.calls import (
    CALLS_PATH,
    SandboxCallRequest,
    SandboxCallState,
)
from switchboard.voice_gateway.entrypoints.dependencies import GatewayDep
from switchboard.voice_gateway.sandbox.callee import SandboxCallee

router = APIRouter(prefix=CALLS_PATH, tags=["sandbox"], include_in_schema=False)


def sandbox_callee(
    gateway: GatewayDep, authorization: Annotated[str, Header()] = ""
) -> SandboxCallee:
    """The process's callees, for a caller with the internal token; 404 when not sandboxed."""
    if gateway.sandbox is None:
        raise HTTPException(status_code=404, detail="telephony is not the sandbox")
    expected = f"Bearer {gateway.settings.internal_api_token}"
    if not secrets.compare_digest(authorization.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="internal token required")
    return gateway.sandbox


CalleeDep = Annotated[SandboxCallee, Depends(sandbox_callee)]


@router.post("", status_code=201)
async def place_call(body: SandboxCallRequest, callee: CalleeDep) -> SandboxCallState:
    """Take a call; the callee answers it in the background."""
    call = callee.place(body)
    return SandboxCallState(sid=call.sid, status=call.status)


@router.get("/{call_sid}")
async def call_state(call_sid: str, callee: CalleeDep) -> SandboxCallState:
    """The call's status now."""
    call = callee.get(call_sid)
    if call is None:
        raise HTTPException(status_code=404, detail="no such call")
    return SandboxCallState(sid=call.sid, status=call.status)


@router.post("/{call_sid}/end", status_code=204)
async def end_call(call_sid: str, callee: CalleeDep) -> Response:
    """Hang the call up."""
    if not callee.end(call_sid):
        raise HTTPException(status_code=404, detail="no such call")
    return Response(status_code=204)
