"""bench/gateway.py's side-by-side run: which servers run in which order, the ratio of the
two gateways, and the knee of each server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.gateway import comparisons, knees, median_ratios, order, server_command


def run(server: str, calls: int, **figures: Any) -> dict[str, Any]:
    return {
        "server": server,
        "calls": calls,
        "calls_lost": 0,
        "frames_dropped": 0,
        "server_jitter_p99_ms": 3.0,
        "cpu_ms_per_call_second": 1.0,
        **figures,
    }


def test_the_two_gateways_alternate_who_goes_first_and_the_baseline_runs_last() -> None:
    assert order(0, compare=True, baseline=True) == ["before", "gateway", "baseline"]
    assert order(1, compare=True, baseline=True) == ["gateway", "before", "baseline"]
    assert order(2, compare=False, baseline=False) == ["gateway"]


def test_the_compared_tree_is_served_by_its_own_python_and_its_own_bench_module() -> None:
    command, cwd = server_command("before", 8123, Path("/work/base"))

    assert command[0] == "/work/base/.venv/bin/python"
    assert "sys.path.insert(0, '/work/base')" in command[2]
    assert "g.serve_gateway(8123)" in command[2]
    assert cwd == Path("/work/base")


def test_the_ratio_is_this_trees_cpu_over_the_compared_trees_at_each_size() -> None:
    results = [
        run("before", 100, cpu_ms_per_call_second=1.6),
        run("gateway", 100, cpu_ms_per_call_second=0.8),
        run("gateway", 200, cpu_ms_per_call_second=0.9),  # no compared run at 200
    ]

    [compared] = comparisons(results)

    assert compared["calls"] == 100
    assert compared["cpu_ratio"] == 0.5
    assert compared["cpu_ms_per_call_second"] == [0.8, 1.6]


def test_the_knee_is_the_fewest_calls_with_jitter_over_10_ms_a_dropped_frame_or_a_lost_call() -> (
    None
):
    results = [
        run("gateway", 250, server_jitter_p99_ms=10.5),
        run("gateway", 100),
        run("gateway", 200, frames_dropped=0),
        run("before", 100),
        run("before", 200, frames_dropped=4),
        run("baseline", 100, calls_lost=1),
        run("other", 100),
    ]

    assert knees(results) == {"gateway": 250, "before": 200, "baseline": 100, "other": None}


def test_repeated_sizes_are_compared_pair_by_pair_and_summed_up_by_the_median() -> None:
    results = [
        run("gateway", 100, cpu_ms_per_call_second=0.5, pair=0),
        run("before", 100, cpu_ms_per_call_second=1.0, pair=0),
        run("gateway", 100, cpu_ms_per_call_second=0.9, pair=1),
        run("before", 100, cpu_ms_per_call_second=1.0, pair=1),
        run("gateway", 100, cpu_ms_per_call_second=0.6, pair=2),
        run("before", 100, cpu_ms_per_call_second=1.0, pair=2),
    ]

    compared = comparisons(results)

    assert [c["cpu_ratio"] for c in compared] == [0.5, 0.9, 0.6]
    assert median_ratios(compared) == {"100": 0.6}
