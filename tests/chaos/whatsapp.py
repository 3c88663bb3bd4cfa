"""Signed WhatsApp webhooks against ``switchboard api``, and the replies the fake Twilio got."""

from __future__ import annotations

import asyncio
import collections
import itertools
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from twilio.request_validator import RequestValidator

from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer

PATH = "/webhooks/twilio/whatsapp"
#: Every request has this client timeout; one that runs out counts as having no answer.
CLIENT_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Inbound:
    """One customer's message: a new contact each, so replies can be counted per contact."""

    contact: str
    sid: str
    to: str

    def form(self) -> dict[str, str]:
        return {
            "MessageSid": self.sid,
            "From": f"whatsapp:{self.contact}",
            "To": f"whatsapp:{self.to}",
            "Body": "Hi, how much is a haircut on Saturday?",
            "NumMedia": "0",
        }


_contacts = itertools.count(random.randrange(1_000_000, 5_000_000))


def inbound_messages(to: str, n: int) -> list[Inbound]:
    """``n`` messages to ``to``, each from a customer not seen before in this process."""
    return [Inbound(f"+1444{next(_contacts):07d}", f"SM{uuid.uuid4().hex}", to) for _ in range(n)]


@dataclass
class Answer:
    inbound: Inbound | None  # None: a REST read
    sent_at: float
    status: int | None = None
    error: str | None = None
    retry_after: str | None = None
    latency_s: float = 0.0


async def send_one(client: httpx.AsyncClient, base_url: str, inbound: Inbound) -> Answer:
    form = inbound.form()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(base_url + PATH, form)
    answer = Answer(inbound, time.monotonic())
    try:
        response = await client.post(
            base_url + PATH, data=form, headers={"X-Twilio-Signature": signature}
        )
        answer.status = response.status_code
        answer.retry_after = response.headers.get("retry-after")
    except httpx.HTTPError as exc:
        answer.error = type(exc).__name__
    answer.latency_s = time.monotonic() - answer.sent_at
    return answer


async def _paced(base_url: str, messages: list[Inbound], rate: float) -> list[Answer]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S, limits=limits) as client:
        start = time.monotonic()
        tasks = []
        for i, inbound in enumerate(messages):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send_one(client, base_url, inbound)))
        return list(await asyncio.gather(*tasks))


def send_webhooks(base_url: str, messages: list[Inbound], rate: float) -> list[Answer]:
    """Send ``messages`` at ``rate`` per second; each request's answer (or its error)."""
    return asyncio.run(_paced(base_url, messages, rate))


@dataclass
class Flood:
    """Webhooks sent from a thread of their own while the test does its damage."""

    base_url: str
    messages: list[Inbound]
    rate: float
    answers: list[Answer] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def start(self) -> Flood:
        def run() -> None:
            self.answers = send_webhooks(self.base_url, self.messages, self.rate)

        self._thread = threading.Thread(target=run, name="webhook-flood")
        self._thread.start()
        return self

    def join(self) -> list[Answer]:
        assert self._thread is not None
        self._thread.join(CLIENT_TIMEOUT_S + len(self.messages) / self.rate + 30)
        return self.answers


def replies_per_contact(twilio: FakeTwilioServer) -> collections.Counter[str]:
    """Messages the fake Twilio was asked to send, per recipient."""
    with twilio.recording():
        return collections.Counter(m["To"].removeprefix("whatsapp:") for m in twilio.messages)


def statuses(answers: list[Answer]) -> collections.Counter[str]:
    return collections.Counter(str(a.status) if a.status else a.error or "?" for a in answers)


@contextmanager
def fake_twilio() -> Iterator[tuple[FakeTwilioServer, dict[str, str]]]:
    """A fake Twilio in this process, and the settings that point the services at it."""
    with FakeTwilioServer.running() as twilio:
        yield (
            twilio,
            {
                "twilio_api_base_url": twilio.url,
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": AUTH_TOKEN,
                "openai_api_key": "",
            },
        )


def exactly_once(
    twilio: FakeTwilioServer, contacts: list[str]
) -> tuple[int, int, int, collections.Counter[str]]:
    """(answered once, never answered, answered more than once, replies per contact)."""
    per_contact = replies_per_contact(twilio)
    once = sum(1 for contact in contacts if per_contact[contact] == 1)
    never = sum(1 for contact in contacts if per_contact[contact] == 0)
    twice = sum(1 for contact in contacts if per_contact[contact] > 1)
    return once, never, twice, per_contact


def wait_answered(twilio: FakeTwilioServer, contacts: list[str], timeout: float) -> None:
    """Until every contact has had a reply (or the time is up: the assertions tell)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        per_contact = replies_per_contact(twilio)
        if all(per_contact[contact] for contact in contacts):
            return
        time.sleep(0.2)
