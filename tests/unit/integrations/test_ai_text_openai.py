"""The real OpenAI adapter, through the ``openai`` library, against the fake OpenAI API."""

from __future__ import annotations

import io
import threading
import time
import tracemalloc
import wave
from pathlib import Path

import pytest

from switchboard.common.bootstrap import make_ai_text
from switchboard.common.integrations.ai_text import (
    AITextPermanentError,
    AITextRetryableError,
    ChatTurn,
    LeadFields,
    OfflineAIText,
    transcript_of,
)
from switchboard.common.integrations.openai_text import OpenAIText
from switchboard.common.settings import Settings
from tests.fakes.openai_http import API_KEY, FakeOpenAIServer
from tests.support.waiting import wait_for

TRANSCRIPT = (
    "Agent: Hello, you've reached Acme Dental.\n"
    "Customer: Hi, my name is Dana Levi and I'd like to book a cleaning.\n"
    "Customer: You can e-mail me at dana@example.com."
)


@pytest.fixture
def ai(fake_openai: FakeOpenAIServer) -> OpenAIText:
    return OpenAIText(API_KEY, base_url=f"{fake_openai.url}/v1", text_model="gpt-test", timeout=5)


def test_a_reply_sends_the_prompt_as_system_message_and_the_history_after_it(
    ai: OpenAIText, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.replies.append("Sure, Tuesday at 10 works.")
    history = [ChatTurn("user", "Can I come Tuesday?")]

    assert ai.reply("You are Acme's receptionist.", history) == "Sure, Tuesday at 10 works."
    [request] = fake_openai.chat_requests
    assert request["model"] == "gpt-test"
    assert request["messages"] == [
        {"role": "system", "content": "You are Acme's receptionist."},
        {"role": "user", "content": "Can I come Tuesday?"},
    ]


def test_lead_fields_come_back_as_validated_structured_output(
    ai: OpenAIText, fake_openai: FakeOpenAIServer
) -> None:
    fields = ai.extract_lead_fields(TRANSCRIPT)

    assert fields == LeadFields(
        name="Dana Levi", email="dana@example.com", intent="booking", status="new"
    )
    response_format = fake_openai.chat_requests[0]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert set(response_format["json_schema"]["schema"]["required"]) == {
        "name",
        "email",
        "intent",
        "status",
    }


def test_the_reply_and_the_lead_s_fields_come_from_one_structured_call(
    ai: OpenAIText, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.replies.append("Happy to book you in, Dana.")
    history = [ChatTurn("user", "Hi, my name is Dana Levi, I'd like to book a cleaning.")]

    answer = ai.answer("You are Acme's receptionist.", history)

    assert answer.reply == "Happy to book you in, Dana."
    assert answer.lead == LeadFields(name="Dana Levi", email=None, intent="booking", status="new")
    [request] = fake_openai.chat_requests  # one model call for both
    system, *turns = request["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You are Acme's receptionist.\n\n")
    assert turns == [{"role": "user", "content": history[0].content}]
    schema = request["response_format"]["json_schema"]["schema"]
    assert set(schema["required"]) == {"reply", "lead"}


def test_the_offline_rules_answer_with_their_reply_and_their_extraction() -> None:
    offline = OfflineAIText()
    history = [ChatTurn("user", "Hi, I'm Dana Levi, dana@example.com, how much is a cleaning?")]

    answer = offline.answer("prompt", history)

    assert answer.reply == offline.reply("prompt", history)
    assert answer.lead == offline.extract_lead_fields(transcript_of(history))


def test_a_summary_is_asked_for_with_the_conversation_as_a_transcript(
    ai: OpenAIText, fake_openai: FakeOpenAIServer
) -> None:
    summary = ai.summarize([ChatTurn("user", "I want a quote"), ChatTurn("assistant", "Sure!")])

    assert summary.startswith("Thanks for your message")
    assert (
        fake_openai.chat_requests[0]["messages"][1]["content"]
        == "Customer: I want a quote\nAgent: Sure!"
    )


def test_audio_is_transcribed_through_a_multipart_upload(
    ai: OpenAIText, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.transcript = "I would like to cancel my appointment."

    text = ai.transcribe(io.BytesIO(b"RIFF....WAVE"), "RE123.wav")

    assert text == "I would like to cancel my appointment."
    [upload] = fake_openai.transcriptions
    assert (upload.filename, upload.model, upload.size) == ("RE123.wav", "whisper-1", 12)


def test_audio_over_the_upload_limit_is_transcribed_in_wav_pieces_within_it(
    fake_openai: FakeOpenAIServer,
) -> None:
    """A long (or dual-channel) call's WAV exceeds the 25 MB OpenAI takes: sent whole it is a
    413 and the recording is never transcribed. The limit is lowered here, on both sides."""
    limit = 40_000
    fake_openai.max_upload_bytes = limit
    ai = OpenAIText(API_KEY, base_url=f"{fake_openai.url}/v1", timeout=5, max_upload_bytes=limit)
    fake_openai.transcript = "part"

    text = ai.transcribe(io.BytesIO(_silent_stereo_wav(frames=32_000)), "RE123.wav")  # 128 kB

    assert text == "part part part part"
    assert [upload.size <= limit for upload in fake_openai.transcriptions] == [True] * 4


def test_pieces_are_given_one_text_each_and_the_skipped_ones_are_not_sent(
    fake_openai: FakeOpenAIServer,
) -> None:
    """A retry resumes after the pieces an earlier try transcribed: they are not sent again,
    and the rest are the same cuts as the first try's (the same sizes)."""
    limit = 40_000
    fake_openai.max_upload_bytes = limit
    ai = OpenAIText(API_KEY, base_url=f"{fake_openai.url}/v1", timeout=5, max_upload_bytes=limit)
    audio = _silent_stereo_wav(frames=32_000)  # 128 kB: four pieces
    texts = ["one", "two", "three", "four"]
    fake_openai.transcripts = list(texts)

    assert list(ai.transcribe_pieces(io.BytesIO(audio), "RE1.wav")) == texts
    sizes = [upload.size for upload in fake_openai.transcriptions]
    fake_openai.transcripts = ["three", "four"]

    assert list(ai.transcribe_pieces(io.BytesIO(audio), "RE1.wav", skip=2)) == ["three", "four"]
    assert [upload.size for upload in fake_openai.transcriptions[4:]] == sizes[2:]
    assert list(ai.transcribe_pieces(io.BytesIO(audio), "RE1.wav", skip=4)) == []
    assert list(ai.transcribe_pieces(io.BytesIO(b"RIFF....WAVE"), "RE2.wav", skip=1)) == []
    assert len(fake_openai.transcriptions) == 6


def test_a_long_recording_is_read_from_its_file_a_piece_at_a_time(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    """An hour's dual-channel call is 115 MB: each piece is read from the file as it is sent,
    never the whole audio (nor every piece) at once. Scaled down: 48 MiB in 1 MiB pieces;
    the peak counts this process's fake server and HTTP client too (about 13 MB, however
    long the file), and the whole file read would be 48 MiB and more."""
    limit = 1024 * 1024
    fake_openai.max_upload_bytes = limit
    ai = OpenAIText(API_KEY, base_url=f"{fake_openai.url}/v1", timeout=5, max_upload_bytes=limit)
    path = tmp_path / "RE123.wav"
    with wave.open(str(path), "wb") as wav:  # written a second at a time, as the storage did
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        for _ in range(48 * limit // 32_000):
            wav.writeframes(b"\x00" * 32_000)
    fake_openai.transcript = "part"

    tracemalloc.start()
    try:
        with path.open("rb") as audio:
            text = ai.transcribe(audio, "RE123.wav")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    sizes = [upload.size for upload in fake_openai.transcriptions]
    assert text == " ".join(["part"] * len(sizes)) and len(sizes) == 48
    assert all(size <= limit for size in sizes) and sum(sizes) >= path.stat().st_size
    assert peak < 24 * limit, f"{peak} bytes held at once"


def test_a_long_recording_s_transcription_may_take_longer_than_other_requests(
    fake_openai: FakeOpenAIServer,
) -> None:
    """The answer comes once the provider has listened to the file: a request timeout that
    fits a chat reply times out on every retry of a call of a few minutes."""
    ai = OpenAIText(API_KEY, base_url=f"{fake_openai.url}/v1", timeout=0.2)
    audio = _silent_stereo_wav(frames=50_000)  # 200 kB: 2 s more than the 0.2 s
    fake_openai.hold_next()
    answer: list[str | BaseException] = []

    def transcribe() -> None:
        try:
            answer.append(ai.transcribe(io.BytesIO(audio), "RE123.wav"))
        except BaseException as exc:
            answer.append(exc)

    caller = threading.Thread(target=transcribe)
    caller.start()
    wait_for(lambda: fake_openai.held == 1)
    time.sleep(0.5)  # the provider still listening, past the 0.2 s of a chat request
    fake_openai.release()
    caller.join(timeout=10)

    assert answer == [fake_openai.transcript]


def _silent_stereo_wav(frames: int) -> bytes:
    """As a dual-channel Twilio recording (``RecordingChannels=2``): 16-bit PCM, 8 kHz."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00" * 4 * frames)
    return buffer.getvalue()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_retryable(
    ai: OpenAIText, fake_openai: FakeOpenAIServer, status: int
) -> None:
    fake_openai.fail_next("chat", status=status)

    with pytest.raises(AITextRetryableError) as raised:
        ai.reply("prompt", [ChatTurn("user", "hi")])

    assert raised.value.status == status


def test_a_wrong_api_key_is_a_permanent_error(fake_openai: FakeOpenAIServer) -> None:
    ai = OpenAIText("sk-wrong-key-123456", base_url=f"{fake_openai.url}/v1")

    with pytest.raises(AITextPermanentError) as raised:
        ai.transcribe(io.BytesIO(b"x"), "a.wav")

    assert raised.value.status == 401


def test_an_unreachable_provider_is_retryable() -> None:
    ai = OpenAIText(API_KEY, base_url="http://127.0.0.1:9/v1", timeout=2)

    with pytest.raises(AITextRetryableError):
        ai.summarize([ChatTurn("user", "hi")])


def test_the_factory_picks_openai_with_a_key_and_the_offline_rules_without(
    fake_openai: FakeOpenAIServer,
) -> None:
    with_key = make_ai_text(
        Settings(openai_api_key=API_KEY, openai_base_url=f"{fake_openai.url}/v1")
    )
    without_key = make_ai_text(Settings(openai_api_key=""))

    assert isinstance(with_key, OpenAIText)
    assert with_key.reply("p", [ChatTurn("user", "hi")]) == "Thanks for your message: hi"
    assert isinstance(without_key, OfflineAIText)
