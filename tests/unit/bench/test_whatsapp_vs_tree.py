"""bench/whatsapp_vs_tree.py's arithmetic: a tree's turns summed, and the two trees' ratios
(no benchmark runs here)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.whatsapp_vs_tree import combine, compare


def turn(answered: int, p99: float, **cpu_s: float) -> dict[str, Any]:
    return {"answered": answered, "latency_p99_ms": p99, "cpu_s": cpu_s}


def test_a_trees_turns_are_summed_before_dividing_and_only_its_parts_make_the_total() -> None:
    turns = [
        turn(100, 12.0, api=0.1, worker=0.3, postgres=0.2, rabbitmq=0.05, load_generator=9.0),
        turn(50, 30.0, api=0.1, worker=0.1, postgres=0.1, rabbitmq=0.05, load_generator=9.0),
    ]

    figures = combine(turns)

    assert figures["answered"] == 150
    assert figures["latency_p99_ms_worst_turn"] == 30.0
    per_message = figures["cpu_ms_per_message"]
    assert per_message["api"] == pytest.approx(200 / 150, abs=1e-3)
    assert per_message["worker"] == pytest.approx(400 / 150, abs=1e-3)
    # The load generator is not the tree's: outside the total.
    assert per_message["total"] == pytest.approx((0.2 + 0.4 + 0.3 + 0.1) * 1000 / 150, abs=2e-3)


def test_the_ratio_is_this_trees_total_over_the_others_overall_and_per_pair_of_turns() -> None:
    ours = [turn(100, 10.0, api=0.5, worker=0.5), turn(100, 10.0, api=0.5, worker=0.7)]
    theirs = [turn(100, 10.0, api=1.0, worker=1.0), turn(100, 10.0, api=1.0, worker=1.4)]

    result = compare(ours, theirs)

    assert result["ratio"] == 0.5
    assert result["ratio_per_turn_pair"] == [0.5, 0.5]
    assert result["ratio_median_of_pairs"] == 0.5
    assert result["this_tree"]["cpu_ms_per_message"]["total"] == 11.0
    assert result["other_tree"]["cpu_ms_per_message"]["total"] == 22.0
