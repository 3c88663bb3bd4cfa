"""``TwilioRequestValidator`` gives the ``twilio`` library's answer for every request, and
signs the URL a second time only when the first form's signature does not match."""

from __future__ import annotations

import io
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from switchboard.common.integrations.twilio_form import TwilioForm
from switchboard.common.integrations.twilio_signature import TwilioRequestValidator

TOKEN = "12345"
FORM = {"From": "whatsapp:+15550001111", "Body": "hi", "MessageSid": "SM1"}


class _Counting(TwilioRequestValidator):
    signed = 0

    def compute_signature(self, uri: str, params: Any, algorithm: str | None = None) -> str:
        self.signed += 1
        return str(super().compute_signature(uri, params, algorithm))


def _sign(url: str, params: Any = FORM) -> str:
    return str(RequestValidator(TOKEN).compute_signature(url, params))


CASES = [
    # (URL the request reached, URL Twilio signed)
    ("https://api.example.com/twilio/whatsapp?x=1", "https://api.example.com/twilio/whatsapp?x=1"),
    ("https://api.example.com/twilio/whatsapp", "https://api.example.com:443/twilio/whatsapp"),
    ("https://api.example.com:8443/twilio/whatsapp", "https://api.example.com/twilio/whatsapp"),
    ("http://127.0.0.1:8000/twilio/whatsapp", "http://127.0.0.1:8000/twilio/whatsapp"),
    ("https://api.example.com/twilio/whatsapp", "https://evil.example.com/twilio/whatsapp"),
    ("https://api.example.com/twilio/whatsapp", "https://api.example.com/other"),
]


@pytest.mark.parametrize(("url", "signed_url"), CASES)
@pytest.mark.parametrize("params", [FORM, {}, None])
def test_it_answers_as_the_library_does(url: str, signed_url: str, params: Any) -> None:
    signature = _sign(signed_url, params)
    expected = RequestValidator(TOKEN).validate(url, params, signature)
    assert TwilioRequestValidator(TOKEN).validate(url, params, signature) is expected
    assert TwilioRequestValidator(TOKEN).validate(url, params, signature[:-2] + "x=") is False
    assert TwilioRequestValidator("other").validate(url, params, signature) is False


def test_a_signature_for_the_url_as_written_is_checked_with_one_hmac() -> None:
    url = "https://api.example.com/twilio/whatsapp"
    validator = _Counting(TOKEN)
    assert validator.validate(url, FORM, _sign(url))
    assert validator.signed == 1
    validator.signed = 0
    assert validator.validate(url, FORM, _sign("https://api.example.com:443/twilio/whatsapp"))
    assert validator.signed == 2
    validator.signed = 0
    assert not validator.validate(url, FORM, "forged")
    assert validator.signed == 2


def test_another_algorithm_and_a_json_body_take_the_library_s_path() -> None:
    url = "https://api.example.com/hook"
    sha256 = str(RequestValidator(TOKEN).compute_signature(url, FORM, "HMAC_SHA256"))
    assert TwilioRequestValidator(TOKEN).validate(url, FORM, sha256, "HMAC_SHA256")
    assert not TwilioRequestValidator(TOKEN).validate(url, FORM, sha256)
    body = '{"a": 1}'
    hashed = f"{url}?bodySHA256={RequestValidator(TOKEN).compute_hash(body)}"
    signature = _sign(hashed, {})
    assert TwilioRequestValidator(TOKEN).validate(hashed, body, signature)
    assert not TwilioRequestValidator(TOKEN).validate(hashed, body + " ", signature)


def test_a_form_with_a_value_that_is_not_text_is_not_signed_rather_than_an_error() -> None:
    from starlette.datastructures import FormData, UploadFile

    url = "https://voice.example.com/twilio/voice/incoming"
    upload = UploadFile(io.BytesIO(b"gw\n"), filename="hostname")
    with_a_file = FormData([("To", "+15550000000"), ("f", upload)])
    repeated = FormData([("To", upload), ("To", "+15550000000")])

    validator = TwilioRequestValidator(TOKEN)
    assert not validator.validate(url, with_a_file, _sign(url, {"To": "+15550000000"}))
    assert not validator.validate(url, repeated, _sign(url, {"To": "+15550000000"}))
    assert validator.validate(url, FORM, _sign(url))


def _repeated() -> Any:
    from starlette.datastructures import FormData

    return FormData([("MediaUrl", "https://b.ex"), ("MediaUrl", "https://a.ex"), ("To", "+1")])


@pytest.mark.parametrize("kind", ["dict", "twilio form", "repeated field"])
def test_its_signing_is_the_library_s(kind: str) -> None:
    fields = {"Body": "café ☕ 你好", "From": "whatsapp:+15550001111", "a": "", "B": "x", "b": "y"}
    form = {"dict": fields, "twilio form": TwilioForm(fields)}.get(kind) or _repeated()
    url = "https://api.example.com/twilio/whatsapp?x=1&y=é"
    library = RequestValidator(TOKEN)
    assert TwilioRequestValidator(TOKEN).compute_signature(url, form) == (
        library.compute_signature(url, form)
    )
    assert TwilioRequestValidator(TOKEN).validate(url, form, library.compute_signature(url, form))


def test_a_signature_that_is_not_ascii_is_refused_rather_than_an_error() -> None:
    url = "https://api.example.com/twilio/whatsapp"
    assert not TwilioRequestValidator(TOKEN).validate(url, FORM, "é" * 28)
    assert not TwilioRequestValidator(TOKEN).validate(url, FORM, _sign(url)[:-1] + "é")
