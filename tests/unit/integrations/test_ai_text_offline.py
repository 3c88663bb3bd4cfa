"""The offline AI adapter: rules that keep the system useful without a model or network."""

from __future__ import annotations

import io

import pytest

from switchboard.common.integrations.ai_text import ChatTurn, FakeAIText, LeadFields, OfflineAIText
from switchboard.common.integrations.text_rules import classify_intent, find_email, find_name

offline = OfflineAIText()


def test_a_call_transcript_yields_the_customers_name_email_intent_and_status() -> None:
    transcript = (
        "Agent: Hi, this is Anna from Acme Dental, how can I help?\n"
        "Customer: Hello, my name is dana levi. I'd like to book an appointment for a cleaning.\n"
        "Agent: Of course. What's your e-mail?\n"
        "Customer: It's Dana.Levi@Example.com."
    )

    assert offline.extract_lead_fields(transcript) == LeadFields(
        name="Dana Levi", email="dana.levi@example.com", intent="booking", status="qualified"
    )


def test_the_agents_own_introduction_is_not_taken_for_the_customers_name() -> None:
    transcript = "Agent: Hi, this is Anna from Acme.\nCustomer: How much is a cleaning?"

    fields = offline.extract_lead_fields(transcript)

    assert (fields.name, fields.intent, fields.status) == (None, "pricing", "interested")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I'm Sarah Connor and I need help", "Sarah Connor"),
        ("this is Tom calling about the invoice", "Tom"),
        ("I'm interested in your prices", None),
        ("my name's jo", "Jo"),
        ("nothing to see here", None),
    ],
)
def test_a_self_introduced_name_is_found(text: str, name: str | None) -> None:
    assert find_name(text) == name


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("I want to cancel my subscription", "cancellation"),
        ("This is terrible, the product arrived broken", "complaint"),
        ("Can I schedule an appointment for Friday?", "booking"),
        ("How much does it cost?", "pricing"),
        ("What are your opening hours?", "information"),
        ("Lovely weather", "other"),
        ("I want to cancel my booking", "cancellation"),
    ],
)
def test_the_intent_follows_the_keywords_with_cancellation_winning_ties(
    text: str, intent: str
) -> None:
    assert classify_intent(text) == intent


def test_an_email_is_found_and_lower_cased() -> None:
    assert (
        find_email("write to Bob.Smith+leads@Mail.Example.co.uk.")
        == "bob.smith+leads@mail.example.co.uk"
    )
    assert find_email("no address here") is None


def test_a_summary_keeps_the_informative_sentences_in_order() -> None:
    messages = [
        ChatTurn("user", "Hi!"),
        ChatTurn("assistant", "Hello, how can I help?"),
        ChatTurn(
            "user", "I'd like to book a table for 4 people on Friday at 8pm. My email is a@b.co."
        ),
        ChatTurn("assistant", "Great, booked for Friday at 8pm for 4 people."),
        ChatTurn("user", "Thanks, bye."),
    ]

    summary = offline.summarize(messages)

    assert "book a table for 4 people on Friday at 8pm" in summary
    assert summary.index("Customer:") < summary.index("Agent: Great, booked")
    assert "Hi!" not in summary and "bye" not in summary


def test_an_empty_conversation_has_an_empty_summary() -> None:
    assert offline.summarize([]) == ""


def test_the_reply_fits_the_latest_message_and_uses_the_customers_name() -> None:
    history = [
        ChatTurn("user", "Hi, I'm Dana."),
        ChatTurn("assistant", "Hello!"),
        ChatTurn("user", "How much is it?"),
    ]

    reply = offline.reply("You are Acme's assistant.", history)

    assert reply.startswith("Thank you, Dana.") and "pricing" in reply


def test_a_greeting_is_answered_with_an_offer_to_help() -> None:
    assert (
        offline.reply("prompt", [ChatTurn("user", "hello")]) == "Hello! How can I help you today?"
    )


def test_transcription_offline_is_a_clear_placeholder() -> None:
    text = offline.transcribe(io.BytesIO(b"\x00" * 10), "RE1.wav")

    assert text.startswith("[no transcript") and "OPENAI_API_KEY" in text and "RE1.wav" in text


def test_the_fake_records_calls_follows_its_script_and_can_fail() -> None:
    fake = FakeAIText(replies=["scripted"], transcript="spoken words")
    fake.fail_next(1)

    with pytest.raises(Exception, match="injected"):
        fake.reply("p", [ChatTurn("user", "hi")])
    assert fake.reply("p", [ChatTurn("user", "hi")]) == "scripted"
    assert fake.transcribe(io.BytesIO(), "a.wav") == "spoken words"
    assert fake.extract_lead_fields("Customer: cancel please").intent == "cancellation"
    assert [name for name, _ in fake.calls] == [
        "reply",
        "reply",
        "transcribe",
        "extract_lead_fields",
    ]
