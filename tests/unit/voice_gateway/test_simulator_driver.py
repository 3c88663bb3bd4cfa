"""The call simulator's Twilio side when the gateway hangs up while the caller is talking: the
paced run ends as the call does, it does not raise (``switchboard simulate-call`` printed a
traceback instead of the call's outcome)."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from switchboard.voice_gateway.simulator import MediaStreamDriver


async def _hang_up_after_start(ws: ServerConnection) -> None:
    await ws.recv()  # connected
    await ws.recv()  # start
    await ws.close(1000, "ai_error")  # the gateway ends the call (its AI failed, say)


async def test_a_gateway_that_hangs_up_mid_speech_ends_the_paced_run_without_raising() -> None:
    async with serve(_hang_up_after_start, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            driver = MediaStreamDriver(ws, call_sid="CA1", stream_sid="MZ1", parameters={})
            await driver.open_stream()
            await ws.wait_closed()  # closed before the receiving side has noticed
            talking = asyncio.Event()  # a script still talking: it never ends on its own

            await asyncio.wait_for(driver.run_paced(talking.wait), 5)

    assert driver.closed_by_gateway and not driver.hung_up
