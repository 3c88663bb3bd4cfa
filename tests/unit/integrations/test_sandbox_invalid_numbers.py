"""The sandbox refuses a ``To`` that is not in E.164 form as Twilio does: error 21211, a
permanent refusal, before anything is sent (so the dialer reports it, and never redials)."""

from __future__ import annotations

import pytest

from switchboard.common.integrations.sandbox.rest import SandboxTwilioRest
from switchboard.common.integrations.twilio_rest import TwilioPermanentError, TwilioRetryableError
from tests.support.processes import free_port

BUSINESS = "+15550009999"
NOT_E164 = ["12345", "not-a-phone", "+1", "", "+1 555 123 4567", "whatsapp:12345"]


@pytest.fixture
def sandbox() -> SandboxTwilioRest:
    """The adapter with no gateway listening: nothing it refuses gets that far."""
    return SandboxTwilioRest(f"http://127.0.0.1:{free_port()}", "internal-token", timeout=2)


@pytest.mark.parametrize("to", NOT_E164)
def test_a_call_to_a_number_not_in_e164_form_is_refused_with_twilio_s_21211(
    sandbox: SandboxTwilioRest, to: str
) -> None:
    with pytest.raises(TwilioPermanentError) as refused:
        sandbox.place_call(to, BUSINESS, "http://gw/twilio/voice/outbound")

    assert (refused.value.status, refused.value.code) == (400, 21211)
    assert refused.value.outcome_known
    assert "not a valid phone number" in str(refused.value)


@pytest.mark.parametrize("to", NOT_E164)
def test_a_message_to_a_number_not_in_e164_form_is_refused_with_twilio_s_21211(
    sandbox: SandboxTwilioRest, to: str
) -> None:
    address = to if to.startswith("whatsapp:") else f"whatsapp:{to}"
    with pytest.raises(TwilioPermanentError) as refused:
        sandbox.send_whatsapp(address, f"whatsapp:{BUSINESS}", "Hello")

    assert (refused.value.status, refused.value.code) == (400, 21211)


def test_a_call_request_the_sandbox_cannot_make_is_refused_for_good_before_it_is_sent(
    sandbox: SandboxTwilioRest,
) -> None:
    with pytest.raises(TwilioPermanentError) as refused:
        sandbox.place_call("+15557654321", "", "http://gw/twilio/voice/outbound")

    assert refused.value.status == 400 and refused.value.outcome_known
    assert "the call request is invalid (from)" in str(refused.value)


def test_a_call_to_a_number_in_e164_form_goes_on_to_the_gateway(
    sandbox: SandboxTwilioRest,
) -> None:
    with pytest.raises(TwilioRetryableError, match="gateway is unreachable"):
        sandbox.place_call("+15557654321", BUSINESS, "http://gw/twilio/voice/outbound")
