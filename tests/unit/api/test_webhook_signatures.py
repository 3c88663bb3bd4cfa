"""Every ``/webhooks`` route of the API's OpenAPI schema refuses a request Twilio did not sign
for exactly this URL with 403, and writes nothing: unsigned, signed with another token,
signed for another URL (another path, another ``message_id``), or a signed request with a
field changed; and the signature is checked before anything else about the request, so an
unsigned or wrongly signed one is 403 however malformed it also is (a ``message_id`` that is
not an id or is given twice, a body that is not a form or not UTF-8, fields missing). The same
form, signed for the URL, is accepted (the refusals are the signature's, not the form's), and
the same signed request again (a replay) changes nothing more. A new webhook route fails
``FORMS`` until it is listed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from switchboard.common.db import Base, system_session
from switchboard.common.settings import Settings
from tests.support.factories import TestBusiness, make_business, unique_phone
from tests.unit.api import rows

WEBHOOK_PREFIX = "/webhooks/"


@dataclass
class Hook:
    """A webhook request as Twilio would send it: the URL's path and query, and the form."""

    path: str
    query: str
    form: dict[str, str]

    @property
    def url(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


def _inbound(business: TestBusiness) -> Hook:
    form = {
        "MessageSid": f"SM{unique_phone()[1:]}in",
        "From": f"whatsapp:{unique_phone()}",
        "To": f"whatsapp:{business.phone_number}",
        "Body": "Is Saturday free?",
    }
    return Hook("/webhooks/twilio/whatsapp", "", form)


def _status(business: TestBusiness) -> Hook:
    conversation = rows.conversation(business.id, business_number=business.phone_number)
    sent = rows.message(business.id, conversation.id, direction="out", status="sending")
    form = {
        "MessageSid": f"SM{unique_phone()[1:]}st",
        "MessageStatus": "undelivered",
        "ErrorCode": "63016",
        "From": f"whatsapp:{business.phone_number}",
        "To": f"whatsapp:{conversation.contact_number}",
    }
    return Hook("/webhooks/twilio/whatsapp/status", f"message_id={sent.id}", form)


#: For each webhook path of the schema: a request Twilio would send it, accepted once signed.
FORMS: dict[str, Callable[[TestBusiness], Hook]] = {
    "/webhooks/twilio/whatsapp": _inbound,
    "/webhooks/twilio/whatsapp/status": _status,
}


def _webhook_paths(client: TestClient) -> list[str]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return sorted(path for path in paths if path.startswith(WEBHOOK_PREFIX))


def _sign(settings: Settings, url: str, form: dict[str, str], token: str | None = None) -> str:
    validator = RequestValidator(token or settings.twilio_auth_token)
    return str(validator.compute_signature(settings.api_base_url + url, form))


def _every_row() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, every column: what a refused or replayed request must leave
    as it was (a repeated inbound message does not touch its conversation either)."""
    with system_session() as session:
        return {
            table.name: sorted(map(tuple, session.execute(select(table)).all()), key=repr)
            for table in Base.metadata.sorted_tables
        }


def test_every_webhook_route_of_the_schema_has_a_form(client: TestClient) -> None:
    found = _webhook_paths(client)
    assert found, "no /webhooks route in the schema: the walk missed them"
    assert found == sorted(FORMS), "a webhook route without a form here (or a stale form)"


def _forgeries(settings: Settings, hook: Hook) -> dict[str, tuple[str, dict[str, str], dict]]:
    """(url, form, headers) of requests Twilio did not sign for what they ask."""
    other_url = hook.path + "?" + (hook.query + "1" if hook.query else "message_id=1")
    other_path = next(path for path in FORMS if path != hook.path)
    changed = {**hook.form, "From": f"whatsapp:{unique_phone()}"}
    signature = _sign(settings, hook.url, hook.form)
    return {
        "unsigned": (hook.url, hook.form, {}),
        "empty signature": (hook.url, hook.form, {"X-Twilio-Signature": ""}),
        "garbage": (hook.url, hook.form, {"X-Twilio-Signature": "bm90IGl0"}),
        "another token": (
            hook.url,
            hook.form,
            {"X-Twilio-Signature": _sign(settings, hook.url, hook.form, token="not-ours")},
        ),
        "signed for another query": (
            hook.url,
            hook.form,
            {"X-Twilio-Signature": _sign(settings, other_url, hook.form)},
        ),
        "moved to another query": (other_url, hook.form, {"X-Twilio-Signature": signature}),
        "signed for another path": (
            hook.url,
            hook.form,
            {"X-Twilio-Signature": _sign(settings, other_path, hook.form)},
        ),
        "a field changed": (hook.url, changed, {"X-Twilio-Signature": signature}),
        "a field added": (
            hook.url,
            {**hook.form, "ExtraField": "1"},
            {"X-Twilio-Signature": signature},
        ),
    }


def _malformed(settings: Settings, hook: Hook) -> dict[str, tuple[str, dict[str, str], dict]]:
    """(url, headers-and-body, signature header) of requests that are wrong twice: not signed
    for what they ask, and malformed besides; the signature must be what refuses them."""
    bad_id = f"{hook.path}?message_id=not-an-id"
    garbage = {"X-Twilio-Signature": "bm90IGl0"}
    stolen = {"X-Twilio-Signature": _sign(settings, hook.url, hook.form)}
    variants: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {}
    for who, headers in (("unsigned", {}), ("garbage-signed", garbage), ("re-used", stolen)):
        variants[f"{who}, message_id not an id"] = (bad_id, {"data": hook.form}, headers)
        variants[f"{who}, message_id out of range"] = (
            f"{hook.path}?message_id=0",
            {"data": hook.form},
            headers,
        )
        variants[f"{who}, message_id given twice"] = (
            f"{hook.path}?message_id=1&message_id=2",
            {"data": hook.form},
            headers,
        )
        variants[f"{who}, JSON body"] = (
            hook.url,
            {"json": hook.form},
            headers,
        )
        variants[f"{who}, text body"] = (
            hook.url,
            {"content": b"hello", "headers": {"Content-Type": "text/plain"}},
            headers,
        )
        variants[f"{who}, form not UTF-8"] = (
            hook.url,
            {
                "content": b"Body=\xff\xfe",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            headers,
        )
        variants[f"{who}, fields missing"] = (hook.url, {"data": {}}, headers)
    return variants


@pytest.mark.parametrize("path", sorted(FORMS))
def test_a_malformed_webhook_not_signed_is_403_not_its_other_fault(
    client: TestClient, embedded: Settings, path: str
) -> None:
    business = make_business()
    hook = FORMS[path](business)
    before = _every_row()
    answers = {}
    for name, (url, request, signature) in _malformed(embedded, hook).items():
        headers = {**request.pop("headers", {}), **signature}
        answers[name] = client.post(url, headers=headers, **request).status_code

    assert answers == dict.fromkeys(answers, 403)
    assert _every_row() == before


@pytest.mark.parametrize("path", sorted(FORMS))
def test_a_webhook_not_signed_for_its_url_is_403_and_writes_nothing(
    client: TestClient, embedded: Settings, path: str
) -> None:
    assert path in _webhook_paths(client), "a stale form"
    business = make_business()
    hook = FORMS[path](business)
    before = _every_row()

    answers = {
        name: client.post(url, data=form, headers=headers).status_code
        for name, (url, form, headers) in _forgeries(embedded, hook).items()
    }

    assert answers == dict.fromkeys(answers, 403)
    assert _every_row() == before
    signed = {"X-Twilio-Signature": _sign(embedded, hook.url, hook.form)}
    accepted = client.post(hook.url, data=hook.form, headers=signed)
    assert accepted.status_code in (200, 204), accepted.text
    assert _every_row() != before, "the signed request changed nothing: the form is not a test"
    accepted_rows = _every_row()

    replayed = client.post(hook.url, data=hook.form, headers=signed)  # Twilio's retry, or not
    assert replayed.status_code == accepted.status_code
    assert _every_row() == accepted_rows, "a replay did its work again"
