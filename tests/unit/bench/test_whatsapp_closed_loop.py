"""bench/whatsapp.py's closed-loop rounds combined (no benchmark runs here)."""

from __future__ import annotations

from typing import Any

from bench.whatsapp import closed_loop_figures


def run(connections: int, requests: int, seconds: float, p99: float = 10.0) -> dict[str, Any]:
    return {
        "connections": connections,
        "requests": requests,
        "seconds": seconds,
        "throughput_per_s": requests / seconds,
        "p50_ms": p99 / 2,
        "p99_ms": p99,
        # 200 µs of the server's CPU a request, 50 of the load generator's
        "cpu_s": {"server": requests * 200e-6, "load_generator": requests * 50e-6},
    }


def test_levels_sum_over_rounds_and_the_ratio_comes_from_each_servers_best_level() -> None:
    rounds = [
        {  # the host fast: both servers quick
            "switchboard": [run(32, 3000, 1.0), run(128, 4000, 1.0)],
            "bare": [run(32, 8000, 1.0), run(128, 7000, 1.0)],
        },
        {  # the host slow: both halved
            "switchboard": [run(32, 1500, 1.0), run(128, 2000, 1.0)],
            "bare": [run(32, 4000, 1.0), run(128, 3500, 1.0)],
        },
    ]

    figures = closed_loop_figures(rounds)

    ours = {level["connections"]: level for level in figures["switchboard_closed_loop"]}
    assert ours[128]["requests"] == 6000 and ours[128]["throughput_per_s"] == 3000.0
    assert [level["throughput_per_s"] for level in figures["bare_closed_loop"]] == [6000, 5250]
    assert figures["throughput_vs_ceiling"] == 0.5  # 3,000 (128) over 6,000 (32)
    assert figures["throughput_vs_ceiling_per_round"] == [0.5, 0.5]
    assert figures["throughput_vs_ceiling_median_of_rounds"] == 0.5
    assert ours[128]["cpu_us_per_request"] == {
        "server": 200.0,
        "load_generator": 50.0,
    }  # the rounds' CPU over their requests
    # 6,000 requests in 2 s at 250 µs each: 0.75 of a core busy
    assert ours[128]["cores_busy"] == 0.75
