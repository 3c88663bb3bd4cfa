import base64
import json

import pytest

from switchboard.voice_gateway.domain.frames import (
    CallerAudio,
    Connected,
    Dtmf,
    MarkPlayed,
    ProtocolError,
    SequenceGuard,
    StreamStart,
    StreamStop,
)
from switchboard.voice_gateway.twilio.serializer import TwilioMediaSerializer

serializer = TwilioMediaSerializer()
AUDIO = bytes(range(160))


def media(sequence: int, payload: bytes = AUDIO) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(sequence),
            "media": {
                "track": "inbound",
                "chunk": "1",
                "timestamp": "20",
                "payload": base64.b64encode(payload).decode(),
            },
            "streamSid": "MZ1",
        }
    )


def start(sequence: int = 1) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": str(sequence),
            "streamSid": "MZ1",
            "start": {
                "streamSid": "MZ1",
                "accountSid": "AC1",
                "callSid": "CA1",
                "tracks": ["inbound"],
                "customParameters": {"token": "t", "business_id": "7"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def test_a_start_message_becomes_a_stream_start_with_its_custom_parameters() -> None:
    frame = serializer.deserialize(start())
    assert frame == StreamStart(
        sequence=1,
        stream_sid="MZ1",
        call_sid="CA1",
        account_sid="AC1",
        parameters={"token": "t", "business_id": "7"},
    )


def test_a_media_message_becomes_caller_audio_with_decoded_bytes() -> None:
    assert serializer.deserialize(media(2)) == CallerAudio(2, 20, AUDIO, "MZ1")


def test_mark_dtmf_stop_and_connected_messages_become_their_frames() -> None:
    mark = {"event": "mark", "sequenceNumber": "3", "streamSid": "MZ1", "mark": {"name": "m1"}}
    dtmf = {
        "event": "dtmf",
        "sequenceNumber": "4",
        "dtmf": {"track": "inbound_track", "digit": "5"},
    }
    stop = {"event": "stop", "sequenceNumber": "5", "stop": {"callSid": "CA1"}}
    connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert serializer.deserialize(json.dumps(mark)) == MarkPlayed(3, "m1", "MZ1")
    assert serializer.deserialize(json.dumps(dtmf)) == Dtmf(4, "5")
    assert serializer.deserialize(json.dumps(stop)) == StreamStop(5)
    assert serializer.deserialize(json.dumps(connected)) == Connected("Call")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "message is not an object"),
        ('{"event": "media", "sequenceNumber": "2"}', "malformed 'media' message"),
        ('{"event": "party"}', "unknown event 'party'"),
        ('{"event": "stop"}', "missing or invalid sequenceNumber"),
    ],
)
def test_a_malformed_message_raises_a_protocol_error_naming_the_problem(
    text: str, reason: str
) -> None:
    with pytest.raises(ProtocolError) as raised:
        serializer.deserialize(text)
    assert raised.value.reason == reason


def test_an_oversized_message_or_audio_payload_is_refused() -> None:
    with pytest.raises(ProtocolError, match="oversized message"):
        serializer.deserialize(" " * (serializer.max_message_chars + 1))
    with pytest.raises(ProtocolError, match="oversized audio"):
        serializer.deserialize(media(2, b"\x00" * 9000))


def test_a_payload_that_is_not_base64_is_refused() -> None:
    bad = json.loads(media(2))
    bad["media"]["payload"] = "***"
    with pytest.raises(ProtocolError, match="not base64"):
        serializer.deserialize(json.dumps(bad))


def test_outbound_media_mark_and_clear_are_the_json_twilio_expects() -> None:
    assert json.loads(serializer.media("MZ1", AUDIO)) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(AUDIO).decode()},
    }
    assert json.loads(serializer.mark("MZ1", "sb:200:item")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "sb:200:item"},
    }
    assert json.loads(serializer.mark("MZ1", 'say "hi"\n'))["mark"]["name"] == 'say "hi"\n'
    assert json.loads(serializer.clear("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


def test_the_sequence_guard_accepts_twilios_order_and_refuses_anything_else() -> None:
    guard = SequenceGuard()
    for text in (json.dumps({"event": "connected"}), start(1), media(2), media(4)):
        guard.check(serializer.deserialize(text))
    assert guard.gaps == 1
    with pytest.raises(ProtocolError, match="out of order"):
        guard.check(serializer.deserialize(media(3)))


def test_media_before_start_and_a_second_start_are_out_of_order() -> None:
    with pytest.raises(ProtocolError, match="before start"):
        SequenceGuard().check(serializer.deserialize(media(1)))
    guard = SequenceGuard()
    guard.check(serializer.deserialize(start(1)))
    with pytest.raises(ProtocolError, match="second start"):
        guard.check(serializer.deserialize(start(2)))


def _standard_library_outcome(text: str) -> object:
    """What the serializer made of ``text`` before orjson: json.loads and ``_frame``."""
    try:
        message = json.loads(text)
        if not isinstance(message, dict):
            raise ProtocolError("message is not an object")
        try:
            return serializer._frame(message)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProtocolError(f"malformed {repr(message.get('event'))[:40]} message") from exc
    except ProtocolError as exc:
        return ("refused", exc.reason, exc.kind)
    except (ValueError, RecursionError):
        return ("refused", "malformed JSON", "malformed")


def _outcome(text: str) -> object:
    try:
        return serializer.deserialize(text)
    except ProtocolError as exc:
        return ("refused", exc.reason, exc.kind)


ODD_MEDIA = [
    media(2),
    media(2).replace('"timestamp": "20"', '"timestamp": 20'),
    media(2).replace('"sequenceNumber": "2"', '"sequenceNumber": 2'),
    media(2).replace('"sequenceNumber": "2"', '"sequenceNumber": "\u00b2"'),
    media(2).replace('"sequenceNumber": "2"', '"sequenceNumber": "1234567890123456"'),
    media(2).replace('"timestamp": "20"', '"timestamp": NaN'),
    media(2).replace('"timestamp": "20"', '"timestamp": "soon"'),
    media(2).replace('"track": "inbound"', '"track": "outbound"'),
    media(2).replace('"payload": "', '"payload": "*'),
    media(2).replace('"payload": "', '"payload": "\\ud800'),
    '{"event": "media", "sequenceNumber": "2", "media": {"payload": 7}}',
    media(2, payload=bytes(7000)),
    media(2, payload=bytes(9000)),
    '{"event": "media", "sequenceNumber": "2"}',
    '{"event": "media", "sequenceNumber": "2", "media": []}',
    '{"event": "media", "sequenceNumber": "2", "media": {"payload": ["AAAA"]}}',
    '{"event": "media", "media": {"payload": "AAAA"}}',
    '{"event": "media", "sequenceNumber": 1e400, "media": {"payload": "AAAA"}}',
    '{"event": "mark", "sequenceNumber": "3", "mark": {"name": "sb:100:i1"}}',
    '["media"]',
    "[" * 5000,
]


@pytest.mark.parametrize("text", ODD_MEDIA)
def test_orjson_and_the_media_fast_path_decide_as_the_standard_library_did(text: str) -> None:
    assert _outcome(text) == _standard_library_outcome(text)


def compact_media(sequence: str = "7", payload: str = base64.b64encode(AUDIO).decode()) -> str:
    """Caller audio byte for byte as Twilio writes it (compact, its key order)."""
    return (
        f'{{"event":"media","sequenceNumber":"{sequence}","media":{{"track":"inbound",'
        f'"chunk":"3","timestamp":"60","payload":"{payload}"}},"streamSid":"MZ1"}}'
    )


def test_caller_audio_as_twilio_writes_it_is_read_without_the_json_parser_alike() -> None:
    text = compact_media()
    assert serializer.plain_audio(text) == (7, 60, AUDIO, "MZ1")
    assert serializer.deserialize(text) == CallerAudio(7, 60, AUDIO, "MZ1")
    # The same message laid out otherwise takes the general path to the same frame.
    assert serializer.plain_audio(json.dumps(json.loads(text))) is None
    assert serializer.deserialize(json.dumps(json.loads(text))) == CallerAudio(7, 60, AUDIO, "MZ1")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (compact_media(payload="AAA="), None),  # short but valid: read by the short path
        (compact_media(payload="A=AA"), "audio payload is not base64"),
        (compact_media(payload="A" * 10_672), "oversized audio payload"),
        (compact_media(sequence="٣"), "missing or invalid sequenceNumber"),  # Arabic digit
        (compact_media(sequence="1" * 16), "missing or invalid sequenceNumber"),
    ],
)
def test_near_misses_of_the_short_path_are_judged_by_the_general_one(
    text: str, reason: str | None
) -> None:
    if reason is None:
        assert serializer.deserialize(text) == CallerAudio(7, 60, base64.b64decode("AAA="), "MZ1")
        return
    assert serializer.plain_audio(text) is None
    with pytest.raises(ProtocolError, match=reason):
        serializer.deserialize(text)


def test_the_guard_takes_the_next_caller_frame_only_in_a_started_stream() -> None:
    guard = SequenceGuard()
    assert not guard.next_audio(1, "MZ1")  # before start: ``check`` refuses it
    guard.check(serializer.deserialize(start(1)))
    assert guard.next_audio(2, "MZ1")
    assert not guard.next_audio(2, "MZ1")  # a repeat: ``check`` says out of order
    assert not guard.next_audio(4, "MZ1")  # a gap: ``check`` counts it
    assert not guard.next_audio(3, "MZ2")  # another stream's: ``check`` refuses it
    guard.check(CallerAudio(4, 80, AUDIO, "MZ1"))
    assert guard.gaps == 1


def _media_laid_out(layout: str, audio: bytes) -> str:
    payload = base64.b64encode(audio).decode()
    if layout == "as twilio writes it":  # the pattern
        return compact_media(payload=payload)
    text = json.dumps(json.loads(compact_media(payload=payload)), indent=1)
    if layout == "laid out otherwise":  # orjson, then _plain_media
        return text
    return text.replace('"sequenceNumber": "7"', '"sequenceNumber": 7')  # _frame


@pytest.mark.parametrize("layout", ["as twilio writes it", "laid out otherwise", "numbers"])
def test_audio_is_taken_up_to_8000_bytes_exactly_on_every_path(layout: str) -> None:
    # 8,000 and 8,001 bytes are both 10,668 base64 characters: only the padding differs.
    for size in (7999, 8000):
        audio = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert serializer.deserialize(_media_laid_out(layout, audio)) == CallerAudio(
            7, 60, audio, "MZ1"
        )
    for size in (8001, 8002):
        text = _media_laid_out(layout, bytes(size))
        assert serializer.plain_audio(text) is None
        with pytest.raises(ProtocolError, match="oversized audio payload") as refused:
            serializer.deserialize(text)
        assert refused.value.kind == "oversized"


def _of_stream(text: str, stream_sid: object) -> str:
    message = json.loads(text)
    message.pop("streamSid", None)
    if stream_sid is not None:
        message["streamSid"] = stream_sid
    return json.dumps(message)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (compact_media().replace('"MZ1"', '"MZ2"'), "CallerAudio of another stream"),
        (_of_stream(media(7), "MZ2"), "CallerAudio of another stream"),
        (_of_stream(media(7), None), "CallerAudio without streamSid"),
        (_of_stream(media(7), 7), "invalid streamSid"),
        (_of_stream(media(7), "MZ 1"), "invalid streamSid"),
        (
            '{"event": "mark", "sequenceNumber": "7", "streamSid": "MZ2", "mark": {"name": "m"}}',
            "MarkPlayed of another stream",
        ),
        ('{"event": "stop", "sequenceNumber": "7", "streamSid": "MZ2"}', "StreamStop of another"),
    ],
)
def test_a_message_naming_another_stream_or_audio_naming_none_is_refused(
    text: str, reason: str
) -> None:
    # Twilio names the stream on each message; the guard knows it from ``start``.
    guard = SequenceGuard()
    guard.check(serializer.deserialize(start(6)))
    with pytest.raises(ProtocolError, match=reason) as refused:
        guard.check(serializer.deserialize(text))
    assert refused.value.kind == ("malformed" if "invalid" in reason else "wrong_stream_sid")
    assert guard.last_sequence == 6  # nothing of it was taken


def test_a_mark_or_stop_naming_no_stream_is_still_taken() -> None:
    guard = SequenceGuard()
    guard.check(serializer.deserialize(start(1)))
    guard.check(serializer.deserialize(compact_media(sequence="2")))
    guard.check(
        serializer.deserialize('{"event": "mark", "sequenceNumber": "3", "mark": {"name": "m"}}')
    )
    guard.check(serializer.deserialize('{"event": "stop", "sequenceNumber": "4"}'))
    assert guard.stopped
