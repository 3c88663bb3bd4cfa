"""The real ``AIText`` adapter, through the official ``openai`` library.

Its own module, imported only when ``OPENAI_API_KEY`` is set: the library takes about a second
to import, which every worker, API and CLI process would otherwise pay at start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, TypeVar

import openai
import pydantic
from openai import OpenAI

from switchboard.common.integrations import config
from switchboard.common.integrations.ai_text import (
    AgentAnswer,
    AIText,
    AITextPermanentError,
    AITextRetryableError,
    ChatTurn,
    LeadFields,
    joined_transcript,
    transcript_of,
)
from switchboard.common.integrations.wav_pieces import wav_pieces
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings

log = get_logger(__name__)
_T = TypeVar("_T")
#: The largest file ``audio.transcriptions`` accepts (25 MB); a larger one is a 413.
MAX_TRANSCRIPTION_UPLOAD_BYTES = 25 * 1024 * 1024
#: A transcription's answer comes after the provider has listened to the whole file: its
#: timeout grows by a second per this many bytes uploaded (about 6 s of a call's WAV), on top
#: of the integration timeout every request has (15 s, which a 5-minute call can outlast).
TRANSCRIPTION_BYTES_PER_EXTRA_SECOND = 100_000

_LEAD_RULES = (
    "Give the customer's name and e-mail only if the customer stated them, otherwise null. "
    "Intent is what the customer mainly wants; status is how far the lead has progressed: "
    "qualified when they want to book and gave contact details."
)
_EXTRACT_INSTRUCTIONS = (
    "You extract a sales lead from a conversation between a business's agent and a customer. "
    + _LEAD_RULES
)
#: Appended to the business's prompt when the reply comes with the lead's fields.
_ANSWER_INSTRUCTIONS = (
    "Answer as JSON: `reply` is your next message to the customer, written as you would "
    "without this instruction; `lead` is what the conversation so far tells about the "
    "customer. " + _LEAD_RULES
)
_SUMMARY_INSTRUCTIONS = (
    "Summarise this conversation for the business owner in at most three sentences: who the "
    "customer is, what they want, and the agreed next step."
)


def _call_openai(action: str, call: Callable[[], _T]) -> _T:
    """Run one library call, translating its failures into our two error classes."""
    try:
        return call()
    except openai.APIStatusError as exc:
        status = exc.status_code
        log.warning("openai.request_failed", action=action, status=status)
        error_class = (
            AITextRetryableError if status == 429 or status >= 500 else AITextPermanentError
        )
        raise error_class(f"OpenAI {action}: HTTP {status}", status=status) from exc
    except openai.APIConnectionError as exc:  # includes timeouts
        log.warning("openai.unreachable", action=action, error=redact(str(exc)))
        raise AITextRetryableError(f"OpenAI {action}: {redact(str(exc))}") from exc
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
        raise AITextPermanentError(f"OpenAI {action}: {exc}") from exc
    except pydantic.ValidationError as exc:  # a model's output can differ on the next try
        raise AITextRetryableError(f"OpenAI {action}: output did not fit the schema") from exc


class OpenAIText(AIText):
    """The real adapter, through ``openai.OpenAI``."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        text_model: str = config.DEFAULT_OPENAI_TEXT_MODEL,
        transcribe_model: str = config.DEFAULT_OPENAI_TRANSCRIBE_MODEL,
        timeout: float = 30.0,
        max_retries: int = 0,
        max_upload_bytes: int = MAX_TRANSCRIPTION_UPLOAD_BYTES,
    ) -> None:
        # max_retries=0: the job system's retries with backoff already cover transient errors.
        self._client = OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self._text_model = text_model
        self._transcribe_model = transcribe_model
        self._max_upload_bytes = max_upload_bytes
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIText:
        """Build the adapter from the process settings."""
        return cls(
            settings.openai_api_key,
            base_url=settings.openai_base_url,
            text_model=config.openai_text_model(settings),
            transcribe_model=config.openai_transcribe_model(settings),
            timeout=config.integration_timeout_s(settings),
        )

    def _complete(self, action: str, messages: list[dict[str, Any]]) -> str:
        completion = _call_openai(
            action,
            lambda: self._client.chat.completions.create(
                model=self._text_model,
                messages=messages,  # type: ignore[arg-type]  # dicts match the TypedDicts
            ),
        )
        content = (completion.choices[0].message.content or "").strip()
        if not content:
            raise AITextRetryableError(f"OpenAI {action}: empty answer")
        return content

    def reply(self, prompt: str, history: Sequence[ChatTurn]) -> str:
        """Chat completion with ``prompt`` as the system message."""
        messages = [{"role": "system", "content": prompt}]
        messages += [{"role": turn.role, "content": turn.content} for turn in history]
        return self._complete("reply", list(messages))

    def answer(self, prompt: str, history: Sequence[ChatTurn]) -> AgentAnswer:
        """The reply and the lead's fields in one structured-output call (``parse``)."""
        messages = [{"role": "system", "content": f"{prompt}\n\n{_ANSWER_INSTRUCTIONS}"}]
        messages += [{"role": turn.role, "content": turn.content} for turn in history]
        completion = _call_openai(
            "answer",
            lambda: self._client.chat.completions.parse(
                model=self._text_model,
                messages=messages,  # type: ignore[arg-type]  # dicts match the TypedDicts
                response_format=AgentAnswer,
            ),
        )
        message = completion.choices[0].message
        if message.parsed is None:
            raise AITextPermanentError(f"OpenAI refused the answer: {message.refusal}")
        if not message.parsed.reply.strip():
            raise AITextRetryableError("OpenAI answer: empty reply")
        return message.parsed

    def extract_lead_fields(self, transcript: str) -> LeadFields:
        """Structured output (``chat.completions.parse``) validated by ``LeadFields``."""
        completion = _call_openai(
            "extract_lead_fields",
            lambda: self._client.chat.completions.parse(
                model=self._text_model,
                messages=[
                    {"role": "system", "content": _EXTRACT_INSTRUCTIONS},
                    {"role": "user", "content": transcript},
                ],
                response_format=LeadFields,
            ),
        )
        message = completion.choices[0].message
        if message.parsed is None:
            raise AITextPermanentError(f"OpenAI refused the extraction: {message.refusal}")
        return message.parsed

    def summarize(self, messages: Sequence[ChatTurn]) -> str:
        """Chat completion asking for a three-sentence summary."""
        return self._complete(
            "summarize",
            [
                {"role": "system", "content": _SUMMARY_INSTRUCTIONS},
                {"role": "user", "content": transcript_of(messages)},
            ],
        )

    def transcribe(self, audio: BinaryIO, filename: str) -> str:
        """``audio.transcriptions.create`` with the configured model; WAV audio over the
        upload limit (a long call) is read and sent a piece at a time, their texts joined."""
        return joined_transcript(self.transcribe_pieces(audio, filename))

    def transcribe_pieces(self, audio: BinaryIO, filename: str, *, skip: int = 0) -> Iterator[str]:
        """Each :func:`wav_pieces` piece from the ``skip``-th sent and its text given before
        the next is read."""
        for piece in wav_pieces(audio, self._max_upload_bytes, start=skip):
            yield self._transcribe_one(piece, filename)

    def _transcribe_one(self, audio: bytes, filename: str) -> str:
        transcription = _call_openai(
            "transcribe",
            lambda: self._client.audio.transcriptions.create(
                model=self._transcribe_model,
                file=(filename, audio),
                timeout=self._timeout + len(audio) / TRANSCRIPTION_BYTES_PER_EXTRA_SECOND,
            ),
        )
        return transcription.text.strip()
