"""Text AI: replies, lead extraction, summaries and transcription.

The port, and two of its adapters: ``OfflineAIText`` (rules, used when no ``OPENAI_API_KEY`` is
set, so the system still works end to end without network) and ``FakeAIText`` for tests. The
real one, ``OpenAIText``, has its own module (``openai_text.py``); ``bootstrap.py`` picks one.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from switchboard.common.integrations import text_rules
from switchboard.common.integrations.errors import (
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from switchboard.common.integrations.text_rules import Intent, LeadStatus, Speaker


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


class AgentAnswer(BaseModel):
    """The agent's next message and what the conversation so far tells about the lead; also
    the JSON schema of the structured output that gives both in one model call."""

    model_config = ConfigDict(extra="forbid")

    reply: str = Field(description="The agent's next message to the customer")
    lead: LeadFields = Field(description="What the conversation so far tells about the customer")


class AIText(ABC):
    """The port: the text work the agent's back office asks of an AI model."""

    @abstractmethod
    def reply(self, prompt: str, history: Sequence[ChatTurn]) -> str:
        """The agent's next message, given its system ``prompt`` and the conversation so far."""

    def answer(self, prompt: str, history: Sequence[ChatTurn]) -> AgentAnswer:
        """:meth:`reply` and the lead's fields from the same ``history``: a chat's reply and
        its analysis at once. An adapter whose model can give both in one call overrides it."""
        return AgentAnswer(
            reply=self.reply(prompt, history),
            lead=self.extract_lead_fields(transcript_of(history)),
        )

    @abstractmethod
    def extract_lead_fields(self, transcript: str) -> LeadFields:
        """Name, e-mail, intent and status from a call transcript or chat."""

    @abstractmethod
    def summarize(self, messages: Sequence[ChatTurn]) -> str:
        """A short summary of a conversation for the business owner."""

    @abstractmethod
    def transcribe(self, audio: BinaryIO, filename: str) -> str:
        """The text spoken in an audio file, open for reading and seekable (``filename``'s
        extension names the format); an adapter reads it as its provider allows, in pieces
        where it can."""

    def transcribe_pieces(self, audio: BinaryIO, filename: str, *, skip: int = 0) -> Iterator[str]:
        """:meth:`transcribe`'s work a piece at a time: the text of each piece the adapter
        sends the audio in, in order, each given as soon as the provider answered it,
        beginning after the first ``skip`` (transcribed by an earlier try, whose texts the
        caller kept): a caller that saves each text resumes there instead of paying for them
        again. :func:`joined_transcript` of all of them is the transcript. An adapter that
        sends the file whole gives one piece."""
        if skip == 0:
            yield self.transcribe(audio, filename)


def joined_transcript(texts: Iterable[str]) -> str:
    """A transcript from its pieces' texts, in order; a silent piece's empty text left out."""
    return " ".join(text for text in texts if text)


def transcript_of(messages: Sequence[ChatTurn]) -> str:
    labels = {"user": "Customer", "assistant": "Agent"}
    return "\n".join(f"{labels[turn.role]}: {turn.content}" for turn in messages)


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

    def transcribe(self, audio: BinaryIO, filename: str) -> str:
        """A placeholder: there is no speech-to-text model offline."""
        size = audio.seek(0, os.SEEK_END)
        return (
            f"[no transcript: speech-to-text needs OPENAI_API_KEY; {filename} "
            f"({size} bytes) was kept untranscribed]"
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

    def transcribe(self, audio: BinaryIO, filename: str) -> str:
        """The scripted transcript, else the offline placeholder."""
        self._record("transcribe", filename)
        if self.transcript is not None:
            return self.transcript
        return self._offline.transcribe(audio, filename)
