"""Text AI: replies, lead extraction, summaries and transcription.

Three adapters behind one port: ``OpenAIText`` (the official ``openai`` library, honouring
``OPENAI_BASE_URL``), ``OfflineAIText`` (rules, used when no ``OPENAI_API_KEY`` is set, so the
system still works end to end without network) and ``FakeAIText`` for tests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
import pydantic
from openai import OpenAI
from pydantic import BaseModel, ConfigDict, Field

from switchboard.common.integrations import config, text_rules
from switchboard.common.integrations.errors import (
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from switchboard.common.integrations.text_rules import Intent, LeadStatus, Speaker
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings

log = get_logger(__name__)
_T = TypeVar("_T")

_EXTRACT_INSTRUCTIONS = (
    "You extract a sales lead from a conversation between a business's agent and a customer. "
    "Give the customer's name and e-mail only if the customer stated them, otherwise null. "
    "Intent is what the customer mainly wants; status is how far the lead has progressed: "
    "qualified when they want to book and gave contact details."
)
_SUMMARY_INSTRUCTIONS = (
    "Summarise this conversation for the business owner in at most three sentences: who the "
    "customer is, what they want, and the agreed next step."
)


class AITextRetryableError(RetryableIntegrationError):
    """The AI provider was unreachable, overloaded (5xx) or rate limited us (429)."""


class AITextPermanentError(PermanentIntegrationError):
    """The AI provider refused the request (bad key, bad model, content refused)."""


@dataclass(frozen=True)
class ChatTurn:
    """One message of a conversation: the customer (``user``) or the agent (``assistant``)."""

    role: Speaker
    content: str


class LeadFields(BaseModel):
    """What the analysis learns about a lead; also the JSON schema of the structured output."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(description="The customer's name, if they said it")
    email: str | None = Field(description="The customer's e-mail address, if they gave it")
    intent: Intent = Field(description="What the customer mainly wants")
    status: LeadStatus = Field(description="How far the lead has progressed")


class AIText(ABC):
    """The port: the text work the agent's back office asks of an AI model."""

    @abstractmethod
    def reply(self, prompt: str, history: Sequence[ChatTurn]) -> str:
        """The agent's next message, given its system ``prompt`` and the conversation so far."""

    @abstractmethod
    def extract_lead_fields(self, transcript: str) -> LeadFields:
        """Name, e-mail, intent and status from a call transcript or chat."""

    @abstractmethod
    def summarize(self, messages: Sequence[ChatTurn]) -> str:
        """A short summary of a conversation for the business owner."""

    @abstractmethod
    def transcribe(self, audio: bytes, filename: str) -> str:
        """The text spoken in an audio file (``filename``'s extension names the format)."""


def _transcript_of(messages: Sequence[ChatTurn]) -> str:
    labels = {"user": "Customer", "assistant": "Agent"}
    return "\n".join(f"{labels[turn.role]}: {turn.content}" for turn in messages)


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
    ) -> None:
        # max_retries=0: the job system's retries with backoff already cover transient errors.
        self._client = OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self._text_model = text_model
        self._transcribe_model = transcribe_model

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
                {"role": "user", "content": _transcript_of(messages)},
            ],
        )

    def transcribe(self, audio: bytes, filename: str) -> str:
        """``audio.transcriptions.create`` with the configured model."""
        transcription = _call_openai(
            "transcribe",
            lambda: self._client.audio.transcriptions.create(
                model=self._transcribe_model, file=(filename, audio)
            ),
        )
        return transcription.text.strip()


class OfflineAIText(AIText):
    """Rules instead of a model, for running without ``OPENAI_API_KEY`` or network.

    Extraction and summaries are useful (regexes, keywords, extractive summary) and replies
    fit the customer's latest message. Transcription cannot be done without a model: it
    returns a bracketed placeholder saying so, which the call log shows as the transcript.
    """

    def reply(self, prompt: str, history: Sequence[ChatTurn]) -> str:
        """A canned reply chosen by the intent of the customer's latest message."""
        return text_rules.canned_reply([(turn.role, turn.content) for turn in history])

    def extract_lead_fields(self, transcript: str) -> LeadFields:
        """Regex and keyword extraction over the customer's side of the transcript."""
        text = text_rules.customer_text(transcript)
        email = text_rules.find_email(text)
        name = text_rules.find_name(text)
        intent = text_rules.classify_intent(text)
        status = text_rules.infer_status(intent, has_contact=bool(email or name))
        return LeadFields(name=name, email=email, intent=intent, status=status)

    def summarize(self, messages: Sequence[ChatTurn]) -> str:
        """The most informative sentences of the conversation."""
        return text_rules.extractive_summary([(turn.role, turn.content) for turn in messages])

    def transcribe(self, audio: bytes, filename: str) -> str:
        """A placeholder: there is no speech-to-text model offline."""
        return (
            f"[no transcript: speech-to-text needs OPENAI_API_KEY; {filename} "
            f"({len(audio)} bytes) was kept untranscribed]"
        )


@dataclass
class FakeAIText(AIText):
    """In-memory AI for unit tests: scripted answers, recorded calls, injectable failures.

    Anything not scripted is answered by the offline rules.
    """

    replies: list[str] = field(default_factory=list)
    lead_fields: LeadFields | None = None
    transcript: str | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    failures_left: int = 0
    _offline: OfflineAIText = field(default_factory=OfflineAIText)

    def fail_next(self, count: int) -> None:
        """Make the next ``count`` calls raise ``AITextRetryableError``."""
        self.failures_left = count

    def _record(self, method: str, argument: Any) -> None:
        self.calls.append((method, argument))
        if self.failures_left > 0:
            self.failures_left -= 1
            raise AITextRetryableError("injected failure", status=503)

    def reply(self, prompt: str, history: Sequence[ChatTurn]) -> str:
        """The next scripted reply, else the offline one."""
        self._record("reply", list(history))
        return self.replies.pop(0) if self.replies else self._offline.reply(prompt, history)

    def extract_lead_fields(self, transcript: str) -> LeadFields:
        """The scripted fields, else the offline extraction."""
        self._record("extract_lead_fields", transcript)
        return self.lead_fields or self._offline.extract_lead_fields(transcript)

    def summarize(self, messages: Sequence[ChatTurn]) -> str:
        """The offline summary."""
        self._record("summarize", list(messages))
        return self._offline.summarize(messages)

    def transcribe(self, audio: bytes, filename: str) -> str:
        """The scripted transcript, else the offline placeholder."""
        self._record("transcribe", filename)
        if self.transcript is not None:
            return self.transcript
        return self._offline.transcribe(audio, filename)


def make_ai_text(settings: Settings) -> AIText:
    """The OpenAI adapter when ``OPENAI_API_KEY`` is set, else the offline one."""
    if settings.openai_api_key:
        return OpenAIText.from_settings(settings)
    log.info("ai_text.offline", reason="OPENAI_API_KEY is not set")
    return OfflineAIText()
