"""``switchboard simulate-whatsapp``: act as Twilio and send a signed inbound WhatsApp message.

The message goes to the API's WhatsApp webhook signed with ``TWILIO_AUTH_TOKEN`` for the URL
it targets, as Twilio signs the exact URL it calls. With an API key, the command then waits
for the agent's reply in the sandbox inbox (telephony ``sandbox``, docs/sandbox.md).
"""

from __future__ import annotations

import json
import secrets
import sys
import time

import httpx
import typer
from twilio.request_validator import RequestValidator

from switchboard.cli.api_client import ApiClient, fail, require_url
from switchboard.cli.exit_codes import FAILED, REFUSED, for_status
from switchboard.common.redaction import redact
from switchboard.common.settings import get_settings

WEBHOOK_PATH = "/webhooks/twilio/whatsapp"
#: The demo business ``switchboard run`` creates (``embedded.DEMO_PHONE``).
DEMO_NUMBER = "+15550000000"


def _address(number: str) -> str:
    number = number.strip()
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def inbound_form(from_: str, to: str, body: str, account_sid: str) -> dict[str, str]:
    """The form Twilio posts for one inbound WhatsApp text message."""
    return {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": account_sid,
        "From": _address(from_),
        "To": _address(to),
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "WaId": from_.strip().removeprefix("whatsapp:").lstrip("+"),
        "ApiVersion": "2010-04-01",
    }


def _wait_for_reply(
    api_url: str, api_key: str, customer: str, after_id: int, timeout_s: float
) -> dict[str, object] | None:
    """The first sandbox message to ``customer`` newer than ``after_id``, polled for a while."""
    bare = customer.strip().removeprefix("whatsapp:")
    deadline = time.monotonic() + timeout_s
    with ApiClient(api_url, api_key) as api:
        while time.monotonic() < deadline:
            items = api.call("GET", "/api/v1/sandbox/messages", params={"limit": 20})["items"]
            for item in reversed(items):
                if item["id"] > after_id and item["to"] == bare:
                    return dict(item)
            time.sleep(0.3)  # the reply is written by a job: poll, as a person would
    return None


def _newest_id(api_url: str, api_key: str) -> int:
    with ApiClient(api_url, api_key) as api:
        items = api.call("GET", "/api/v1/sandbox/messages", params={"limit": 1})["items"]
    return int(items[0]["id"]) if items else 0


def simulate_whatsapp(
    from_: str = typer.Option(..., "--from", help="The customer's number (E.164)."),
    body: str = typer.Option(..., "--body", help="The message text."),
    to: str = typer.Option(DEMO_NUMBER, "--to", help="The business's WhatsApp number."),
    api_url: str | None = typer.Option(
        None,
        "--api-url",
        help="The API's URL, signed for as Twilio signs the URL it calls "
        "(default: API_PUBLIC_BASE_URL, else API_BASE_URL).",
    ),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        envvar="SWITCHBOARD_API_KEY",
        help="The business's API key: wait for the agent's reply in the sandbox inbox.",
    ),
    wait_s: float = typer.Option(30.0, "--wait", help="How long to wait for the reply."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Act as Twilio: post a signed inbound WhatsApp message to the API's webhook."""
    settings = get_settings()
    base = api_url or settings.api_public_base_url or settings.api_base_url
    require_url(base, "--api-url / API_PUBLIC_BASE_URL / API_BASE_URL")
    base = base.rstrip("/")
    url = base + WEBHOOK_PATH
    if not body.strip():
        fail("--body is empty", REFUSED)
    if not wait_s >= 0:  # NaN too: checked before the message is sent, not after
        fail(f"--wait {wait_s:g}: give the seconds to wait for the reply, 0 or more", REFUSED)
    form = inbound_form(from_, to, body, settings.twilio_account_sid)
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(url, form)
    before = _newest_id(base, api_key) if api_key else 0
    try:
        response = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the API at {redact(base)}: {exc} (check --api-url)")
    if response.status_code == 403:
        fail(
            f"the API refused the signature: is {redact(base)} its API_PUBLIC_BASE_URL (or "
            "API_BASE_URL), and TWILIO_AUTH_TOKEN the same here and there?",
            for_status(response.status_code),
        )
    if response.status_code >= 400:
        said = " ".join(response.text.split())[:200]
        code = for_status(response.status_code)
        fail(f"the webhook answered {response.status_code}: {said}", code)
    reply = _wait_for_reply(base, api_key, from_, before, wait_s) if api_key else None
    outcome = {"message_sid": form["MessageSid"], "status": response.status_code, "reply": reply}
    if as_json:
        sys.stdout.write(json.dumps(outcome) + "\n")
    else:
        sys.stdout.write(
            f"sent {form['MessageSid']} to {to}: the API answered {response.status_code}\n"
        )
        if reply is not None:
            sys.stdout.write(f"agent: {reply['body']}\n")
    if api_key and reply is None:
        sys.stderr.write(f"no reply in the sandbox inbox within {wait_s:g} s\n")
        raise typer.Exit(FAILED)
