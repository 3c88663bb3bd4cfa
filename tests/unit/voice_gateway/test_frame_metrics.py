"""The per-frame metrics read out exactly as prometheus_client's own would."""

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

from switchboard.voice_gateway.frame_metrics import frame_counter, frame_histogram

BUCKETS = (0.0005, 0.001, 0.02, 1.0)
VALUES = (0.0, 0.0005, 0.0007, 0.001, 0.019, 0.02, 0.5, 3.0, -0.0002)


def exposed(name: str) -> list[str]:
    return [
        line
        for line in generate_latest(REGISTRY).decode().splitlines()
        if line.startswith(name) and "_created" not in line
    ]


def test_a_frame_histogram_exposes_the_buckets_count_and_sum_of_the_librarys() -> None:
    ours = frame_histogram("test_frame_jitter_seconds", "Lateness.", BUCKETS)
    registry = CollectorRegistry()
    theirs = Histogram("test_frame_jitter_seconds", "Lateness.", buckets=BUCKETS, registry=registry)
    for value in VALUES:
        ours.observe(value)
        theirs.observe(value)
    expected = [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith("test_frame_jitter_seconds") and "_created" not in line
    ]
    assert exposed("test_frame_jitter_seconds") == expected
    assert 'test_frame_jitter_seconds_bucket{le="0.001"} 5.0' in expected


def test_a_frame_counter_exposes_a_total() -> None:
    ours = frame_counter("test_frames_total", "Frames.")
    registry = CollectorRegistry()
    theirs = Counter("test_frames_total", "Frames.", registry=registry)
    for _ in range(3):
        ours.inc()
        theirs.inc()
    ours.inc(2)
    theirs.inc(2)
    expected = [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith("test_frames_total")
    ]
    assert exposed("test_frames_total") == expected == ["test_frames_total 5.0"]
