import pytest

from switchboard.common.events import (
    CallEnded,
    CallStatusChanged,
    InProcessEventBus,
    RecordingReady,
    parse_event,
    topic_matches,
    utc_now,
)
from switchboard.voice_gateway.adapters.event_spool import EventSpool
from switchboard.voice_gateway.adapters.in_process_publisher import InProcessEventPublisher


def status_event() -> CallStatusChanged:
    return CallStatusChanged(business_id=1, call_sid="CA1", call_status="ringing")


def test_every_event_has_a_unique_id_a_type_and_a_utc_time() -> None:
    """Unique to what it reports: the same status of the same call (Twilio's callback sent
    again) is the same event."""
    first = status_event()
    second = CallStatusChanged(business_id=1, call_sid="CA1", call_status="in-progress")
    assert first.event_id != second.event_id
    assert status_event().event_id == first.event_id
    assert first.type == first.routing_key == "call.status"
    assert (
        first.occurred_at.utcoffset() is not None
        and first.occurred_at.utcoffset().total_seconds() == 0
    )


def test_a_published_body_parses_back_into_the_same_event() -> None:
    now = utc_now()
    ended = CallEnded(
        business_id=3,
        call_sid="CA1",
        stream_sid="MZ1",
        direction="inbound",
        from_number="+1",
        to_number="+2",
        started_at=now,
        ended_at=now,
        duration_s=1.5,
        end_reason="caller_hung_up",
        transcript=[{"role": "caller", "text": "hi", "at": now}],  # type: ignore[list-item]
    )
    assert parse_event(ended.to_json_bytes()) == ended


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("#", "call.ended", True),
        ("call.*", "call.ended", True),
        ("call.*", "recording.ready", False),
        ("*.ready", "recording.ready", True),
        ("call.#", "call", True),
        ("call.ended", "call.status", False),
    ],
)
def test_subscriptions_match_routing_keys_like_an_amqp_topic_exchange(
    pattern: str, key: str, matches: bool
) -> None:
    assert topic_matches(pattern, key) is matches


async def test_the_in_process_bus_fans_out_to_matching_subscribers() -> None:
    bus = InProcessEventBus()
    calls, everything = bus.subscribe("call.*"), bus.subscribe("#")
    recording = RecordingReady(
        business_id=1, call_sid="CA1", recording_sid="RE1", recording_url="u"
    )
    bus.publish(status_event())
    bus.publish(recording)

    assert (await calls.get()).type == "call.status"
    assert calls.get_nowait() is None
    assert [(await everything.get()).type for _ in range(2)] == ["call.status", "recording.ready"]


async def test_events_published_before_anyone_subscribes_wait_for_the_first_subscriber() -> None:
    bus = InProcessEventBus()
    bus.publish(status_event())
    assert bus.pending == 1
    subscription = bus.subscribe()
    assert (await subscription.get()).type == "call.status"
    assert bus.pending == 0


async def test_the_in_process_publisher_hands_events_to_the_bus_the_api_subscribes_to() -> None:
    bus = InProcessEventBus()
    publisher = InProcessEventPublisher(bus)
    subscription = bus.subscribe("call.*")
    await publisher.publish(status_event())
    await publisher.publish(status_event())

    assert [(await subscription.get()).type for _ in range(2)] == ["call.status"] * 2
    subscription.close()
    await publisher.publish(status_event())
    assert publisher.pending == bus.pending == 1


def test_the_spool_keeps_events_in_order_across_a_restart(tmp_path) -> None:
    spool = EventSpool(tmp_path)
    spool.append("call.started", b'{"n": 1}')
    spool.append("call.ended", b'{"n": 2}')
    (tmp_path / "00000000000000000003.tmp").write_bytes(b"half-written")

    reopened = EventSpool(tmp_path)
    first = reopened.oldest()
    assert first is not None and (first.routing_key, first.body) == ("call.started", b'{"n": 1}')
    reopened.remove(first)
    reopened.append("call.status", b'{"n": 3}')
    assert [EventSpool(tmp_path).oldest().routing_key, len(reopened)] == ["call.ended", 2]  # type: ignore[union-attr]
    assert not list(tmp_path.glob("*.tmp"))
