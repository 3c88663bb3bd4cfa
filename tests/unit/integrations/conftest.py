"""The fake outside services, as fixtures for the integration adapters' tests."""

from __future__ import annotations

from tests.fakes.flooding_receiver import flooding_receiver
from tests.fakes.openai_http import fake_openai
from tests.fakes.twilio_rest import fake_twilio
from tests.fakes.web_push import fake_push_service
from tests.fakes.webhook_receiver import webhook_receiver

__all__ = [
    "fake_openai",
    "fake_push_service",
    "fake_twilio",
    "flooding_receiver",
    "webhook_receiver",
]
