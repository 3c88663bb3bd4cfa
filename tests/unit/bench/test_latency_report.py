"""bench/latency.py's figures in the report, and how it charges each frame (no benchmark runs)."""

from __future__ import annotations

from typing import Any

from bench.latency_stamps import (
    CLEAR,
    Call,
    CallerStamps,
    CallLog,
    ProviderStamps,
    Stamps,
    all_up,
    lag_p99,
    loop_lag,
    missed_barge_in_details,
    replay,
)
from bench.report_tables import TABLES, headline
from bench.run_all import BENCHMARKS


def figures(p50: float, p99: float, n: int = 100) -> dict[str, Any]:
    return {"n": n, "p50_ms": p50, "p99_ms": p99, "max_ms": p99 * 2}


def run(server: str, calls: int, greeting_p99: float) -> dict[str, Any]:
    return {
        "server": server,
        "calls": calls,
        "seconds": 10.0,
        "provider_delay_ms": 300,
        "connect_delay_ms": 300,
        "provider_to_twilio": figures(0.2, 1.5),
        "caller_to_provider": figures(0.6, 3.0),
        "barge_in": {**figures(0.7, 1.0), "missed": 0},
        "greeting": figures(5.0, greeting_p99, n=calls),
        "calls_without_greeting": 0,
    }


LATENCY_JSON = {
    "machine_cpus": 2,
    "results": [
        run("gateway", 1, 8.0),
        run("pre-fix", 1, 340.0),
        run("gateway", 20, 12.0),
        run("pre-fix", 20, 360.0),
    ],
}


def test_latency_figures_sit_beside_the_pre_fix_baseline_per_call_count() -> None:
    lines = TABLES["latency"](LATENCY_JSON)

    assert lines[0].startswith("1 concurrent calls for 10.0 s, provider delay 300 ms")
    greeting = [line for line in lines if line.startswith("| start → first greeting frame")]
    assert greeting[0] == (
        "| start → first greeting frame, beyond the provider's delay, p50 / p99 "
        "| 5.00 / 8.00 ms | 5.00 / 340 ms | 0.024 |"
    )
    assert len(greeting) == 2
    assert headline("latency", LATENCY_JSON).startswith("at 20 calls p99: provider to twilio 1.50")


def test_the_gateway_alone_shows_dashes_for_the_baseline() -> None:
    lines = TABLES["latency"]({"results": [run("gateway", 1, 8.0)]})

    assert "| barge-ins without a clear | 0 | – |  |" in lines


def test_latency_runs_with_the_others_and_has_a_smoke_size() -> None:
    (latency,) = [b for b in BENCHMARKS if b.name == "latency"]

    assert latency.sizes["smoke"] == ["--smoke"] and latency.takes_out


def test_an_agent_frame_is_charged_only_what_it_waited_beyond_its_pacing_slot() -> None:
    stamps, call = Stamps(provider_delay_s=0.3), Call(0, started_at=10.0)
    for serial in (1, 2, 3):
        stamps.agent_sent[serial] = 11.0  # one delta of three frames

    stamps.agent_frame_arrived(call, 1, 11.002)  # 2 ms after the provider sent it
    stamps.agent_frame_arrived(call, 2, 11.022)  # its slot: 20 ms after the first
    stamps.agent_frame_arrived(call, 3, 11.050)  # 8 ms behind its slot

    assert [round(x * 1000, 3) for x in stamps.provider_to_twilio] == [2.0, 0.0, 8.0]
    assert [round(x * 1000, 3) for x in stamps.greeting] == [702.0]


def test_frames_sent_ahead_of_their_slot_are_not_late_and_lateness_carries_on() -> None:
    stamps, call = Stamps(provider_delay_s=0.3), Call(0, started_at=10.0)
    for serial in range(1, 7):
        stamps.agent_sent[serial] = 11.0  # one delta of six frames, sent two per write

    for serial, at in ((1, 11.0), (2, 11.0), (3, 11.040), (4, 11.040), (5, 11.095), (6, 11.095)):
        stamps.agent_frame_arrived(call, serial, at)

    # 3 plays at 11.040 when 2 has played; 5 was due at 11.080 and came 15 ms after; 6,
    # due when 5 has played (11.115), came ahead of it.
    assert [round(x * 1000, 3) for x in stamps.provider_to_twilio] == [0, 0, 0, 0, 15.0, 0]


def test_each_process_s_cores_are_shown_and_a_saturated_load_process_is_named() -> None:
    def cpu(gateway: float, provider: float, callers: float) -> dict[str, Any]:
        return {
            "wall_s": 12.0,
            "gateway_cores": gateway,
            "provider_cores": provider,
            "callers_cores": callers,
            "load_generator_saturated": max(provider, callers) >= 0.9,
        }

    lag = {"provider_p99_ms": 1.5, "callers_p99_ms": 42.0}
    ours = {**run("gateway", 100, 60.0), "cpu": cpu(0.55, 0.31, 0.97), "load_loop_lag": lag}
    base = {**run("pre-fix", 100, 700.0), "cpu": cpu(0.61, 0.2, 0.42)}

    lines = TABLES["latency"]({"results": [ours, base]})

    assert (
        "| cores used: gateway / provider / callers | 0.55 / 0.31 / 0.97 (saturated) "
        "| 0.61 / 0.20 / 0.42 |  |" in lines
    )
    assert "| load processes' loop lag p99: provider / callers | 1.50 / 42.0 ms | – |  |" in lines


def test_each_call_s_arrivals_are_replayed_against_the_provider_s_stamps() -> None:
    # The provider sent frames 1 and 2 at 11.0, barged in at 11.030 and sent frame 3 at
    # 11.032; the call started at 10.0 got 1 and 2, the clear (twice), then 3 after 2 ms —
    # charged from its send: the clear emptied the player, 3 does not wait for 2 to play.
    provider = ProviderStamps(
        agent_sent={1: 11.0, 2: 11.0, 3: 11.032},
        caller_arrived={2**31: 10.503, 2**31 + 1: 10.530},
        barge_ins={0: [11.030]},
    )
    log = CallLog(
        started_at=10.0,
        received=[(11.002, 1), (11.022, 2), (11.031, CLEAR), (11.033, CLEAR), (11.034, 3)],
    )
    callers = CallerStamps(
        caller_sent={2**31: 10.5, 2**31 + 1: 10.52, 2**31 + 2: 10.54},
        calls={0: log, 1: CallLog(started_at=10.1)},
        stopped_at=12.0,
        loop_lags=[(9.0, 0.5), (10.5, 0.002), (12.5, 0.3)],  # only the one while calls were up
    )

    stamps = replay(provider, callers, provider_delay_s=0.3)

    assert [round(x * 1000, 3) for x in stamps.provider_to_twilio] == [2.0, 0.0, 2.0]
    assert [round(x * 1000, 3) for x in stamps.caller_to_provider] == [3.0, 10.0]
    assert [round(x * 1000, 3) for x in stamps.barge_in] == [1.0]  # the first clear only
    assert [round(x * 1000, 3) for x in stamps.greeting] == [702.0]
    assert not stamps.calls[1].first_agent_frame_at
    assert missed_barge_in_details(provider, callers) == []
    assert loop_lag(provider, callers) == {"provider_p99_ms": None, "callers_p99_ms": 2.0}


def test_a_barge_in_without_its_clear_within_a_second_is_missed_unless_it_came_at_the_stop() -> (
    None
):
    provider = ProviderStamps(barge_ins={0: [11.0, 13.0], 1: [10.0, 11.0], 2: [11.0, 12.0]})
    callers = CallerStamps(
        calls={
            0: CallLog(received=[(11.001, CLEAR)]),  # its second barge-in came after the stop
            1: CallLog(received=[(10.001, CLEAR), (12.5, CLEAR)]),  # the second's: too late
            2: CallLog(received=[(11.001, CLEAR)]),  # its second, 0.1 s before the stop: unjudged
        },
        stopped_at=12.1,
    )

    assert missed_barge_in_details(provider, callers) == [
        {"call": 1, "before_stop_s": 1.1, "clear_after_s": 1.5}
    ]


def test_the_all_up_figures_and_the_gateway_s_lag_count_from_the_same_moment() -> None:
    # Calls started at 10.0 and 10.5: all up from 10.5 + 1 s + the provider's 0.3 s = 11.8.
    provider = ProviderStamps(
        agent_sent={1: 11.0, 2: 12.0},
        caller_arrived={2**31: 11.003, 2**31 + 1: 12.001},
    )
    callers = CallerStamps(
        caller_sent={2**31: 11.0, 2**31 + 1: 12.0},
        calls={
            0: CallLog(started_at=10.0, received=[(11.050, 1)]),
            1: CallLog(started_at=10.5, received=[(12.002, 2)]),
        },
        stopped_at=13.0,
    )
    stamps = replay(provider, callers, provider_delay_s=0.3)

    up = all_up(stamps, callers, provider_delay_s=0.3)
    lags = [(11.6, 0.040), (12.0, 0.002)]  # 11.6: a call still starting

    assert up["seconds"] == 1.2
    assert up["caller_to_provider"]["n"] == 1 and up["caller_to_provider"]["p99_ms"] == 1.0
    assert up["provider_to_twilio"]["n"] == 1 and up["provider_to_twilio"]["p99_ms"] == 2.0
    assert lag_p99(lags, callers, provider_delay_s=0.3) == {
        "p99_ms": 40.0,
        "all_up_p99_ms": 2.0,
    }
