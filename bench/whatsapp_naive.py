"""The naive baseline of ``bench/whatsapp_path.py``: the same work, the simplest way.

One process (``uvicorn bench.whatsapp_naive:app``, one worker) answers each signed Twilio
webhook inline, before it answers Twilio: no queue, no worker, no job ledger. Each step is
its own transaction on a pooled SQLAlchemy connection, with plain SQL on one table:

1. check the signature, store the inbound message;
2. read the conversation's history;
3. build the reply with the product's own agent (``adapters().ai_text``: the offline rules,
   or OpenAI — the fake, with its delay — when ``OPENAI_API_KEY`` is set);
4. store the reply (``queued``);
5. send it with the product's Twilio client (the real ``twilio`` library);
6. mark it ``sent`` with Twilio's sid.

What it leaves out, and Switchboard does: tenancy (row-level security), the business found
by its number, leads and sessions, the per-business concurrency limit, the job ledger,
retries and the send ledger's crash safety, the conversation's analysis. It is the floor of
what answering a message costs, not a design anyone should ship.

Environment: ``DATABASE_URL``, ``NAIVE_BASE_URL`` (the URL Twilio signs for),
``NAIVE_PROMPT``, and the product's ``TWILIO_*`` / ``OPENAI_*`` settings.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from switchboard.common.bootstrap import adapters
from switchboard.common.integrations.ai_text import ChatTurn
from switchboard.common.settings import get_settings

PATH = "/webhooks/twilio/whatsapp"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SCHEMA = """
CREATE TABLE IF NOT EXISTS naive_messages (
    id bigserial PRIMARY KEY,
    contact text NOT NULL,
    direction text NOT NULL,
    body text NOT NULL,
    status text NOT NULL,
    sid text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS naive_messages_contact ON naive_messages (contact, id);
"""


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


engine = create_engine(_sqlalchemy_url(os.environ["DATABASE_URL"]), pool_size=10, max_overflow=10)
validator = RequestValidator(get_settings().twilio_auth_token)
signed_url = os.environ.get("NAIVE_BASE_URL", "") + PATH
prompt = os.environ.get("NAIVE_PROMPT", "You are a helpful receptionist.")
with engine.begin() as connection:
    connection.execute(text(SCHEMA))
app = FastAPI()


def answer(form: dict[str, str]) -> None:
    """Steps 1–6 above, each step its own transaction."""
    contact, business = form["From"], form["To"]
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO naive_messages (contact, direction, body, status) "
                "VALUES (:contact, 'in', :body, 'received')"
            ),
            {"contact": contact, "body": form.get("Body", "")},
        )
    with engine.begin() as db:
        rows = db.execute(
            text(
                "SELECT direction, body FROM naive_messages WHERE contact = :contact "
                "ORDER BY id DESC LIMIT 20"
            ),
            {"contact": contact},
        ).all()
    history = [ChatTurn("user" if d == "in" else "assistant", b) for d, b in reversed(rows)]
    body = adapters().ai_text.reply(prompt, history)
    with engine.begin() as db:
        reply_id = db.execute(
            text(
                "INSERT INTO naive_messages (contact, direction, body, status) "
                "VALUES (:contact, 'out', :body, 'queued') RETURNING id"
            ),
            {"contact": contact, "body": body},
        ).scalar_one()
    sent = adapters().twilio.send_whatsapp(contact, business, body)
    with engine.begin() as db:
        db.execute(
            text("UPDATE naive_messages SET status = 'sent', sid = :sid WHERE id = :id"),
            {"sid": sent.sid, "id": reply_id},
        )


@app.post(PATH)
async def webhook(request: Request) -> Response:
    """Check the signature, then answer the message before answering Twilio."""
    form: dict[str, Any] = dict(await request.form())
    if not validator.validate(signed_url, form, request.headers.get("X-Twilio-Signature", "")):
        return Response(status_code=403)
    await run_in_threadpool(answer, form)
    return Response(EMPTY_TWIML, media_type="application/xml")


@app.get("/health")
async def health() -> dict[str, str]:
    """Up."""
    return {"status": "ok"}
