"""Opening and closing Gemini Live connections, and what a call's session is set up with.

A connection is the ``google-genai`` ``connect()`` context, entered: its session and the context
that closes it. The conversation (``gemini_live.py``) holds one at a time and swaps in a new
one, resuming the session, when the service ends the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from google import genai
from google.genai import errors, live, types
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.ports.ai import CallContext, ProviderUnavailable

CONNECT_TIMEOUT_S = 10
CONNECT_ERRORS = (errors.APIError, OSError, InvalidHandshake, TimeoutError, ConnectionClosed)
#: Gemini Live's prebuilt voices; an agent voice outside them (OpenAI's ``alloy``, say) leaves
#: the choice to Gemini.
GEMINI_VOICES = frozenset(
    "Achernar Achird Algenib Algieba Alnilam Aoede Autonoe Callirrhoe Charon Despina Enceladus "
    "Erinome Fenrir Gacrux Iapetus Kore Laomedeia Leda Orus Puck Pulcherrima Rasalgethi "
    "Sadachbia Sadaltager Schedar Sulafat Umbriel Vindemiatrix Zephyr Zubenelgenubi".split()
)


#: An entered ``connect()`` context: the session and the context that closes it.
Connection = tuple[live.AsyncSession, contextlib.AbstractAsyncContextManager[live.AsyncSession]]
#: Opens a connection resuming the session the handle stands for.
Resume = Callable[[str], Coroutine[Any, Any, Connection]]


def live_config(
    config: AgentConfig, call: CallContext, handle: str | None = None
) -> types.LiveConnectConfig:
    """The Live session's setup for a phone call with this agent: audio out, both sides
    transcribed, the agent's prompt as system instructions, resumable (from ``handle`` when
    it resumes an earlier connection's session)."""
    number = call.from_number if call.direction == "inbound" else call.to_number
    instructions = (
        f"{config.prompt}\n\nYou are on a phone call for {config.business_name} "
        f"({call.direction}; the caller's number is {number}). "
        # Native-audio models pick the language themselves; the instructions pin it.
        f"Speak {config.language} unless the caller speaks another language."
    )
    voice = next((v for v in GEMINI_VOICES if v.lower() == config.voice.lower()), None)
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        system_instruction=instructions,
        speech_config=(
            types.SpeechConfig(
                voice_config=types.VoiceConfig(
                    prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice)
                )
            )
            if voice
            else None
        ),
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        session_resumption=types.SessionResumptionConfig(handle=handle),
    )


async def connect(client: genai.Client, model: str, config: types.LiveConnectConfig) -> Connection:
    """Open a connection and set the session up; ``ProviderUnavailable`` if that fails."""
    context = client.aio.live.connect(model=model, config=config)
    try:
        session = await asyncio.wait_for(context.__aenter__(), CONNECT_TIMEOUT_S)
    except CONNECT_ERRORS as exc:
        raise ProviderUnavailable(f"Gemini Live: {type(exc).__name__}") from exc
    if session.setup_complete is None:
        await close_connection((session, context))
        raise ProviderUnavailable("Gemini Live: no setupComplete")
    return session, context


async def close_connection(connection: Connection) -> None:
    """Close a connection; one already gone is fine."""
    with contextlib.suppress(*CONNECT_ERRORS, RuntimeError):
        await connection[1].__aexit__(None, None, None)
