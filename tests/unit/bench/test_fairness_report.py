"""bench/fairness.py's figures in the report: B's latency beside A's flood, against the
targets of issue #24."""

from __future__ import annotations

from bench.report_tables import TABLES, headline


def fairness_json() -> dict[str, object]:
    return {
        "scenarios": {
            "b_alone": {"b_p50_ms": 140.0, "b_p99_ms": 200.0, "b_answered": 120},
            "a_alone": {"a_jobs_per_s": 30.0, "a_jobs": 16000, "seconds": 530.0},
            "flood_fair": {
                "b_p50_ms": 150.0,
                "b_p99_ms": 300.0,
                "b_answered": 500,
                "a_jobs_per_s": 29.0,
            },
            "flood_off": {"b_p50_ms": 900.0, "b_p99_ms": 6000.0, "a_jobs_per_s": 130.0},
        }
    }


def test_the_table_has_every_scenario_and_the_headline_checks_the_targets() -> None:
    lines = TABLES["fairness"](fairness_json())
    table = "\n".join(lines)
    for label in ("B alone", "A's flood alone", "fair share", "arrival order"):
        assert label in table
    assert "| 150.0 | 300.0 | 500 | 29.0 |" in table
    assert headline("fairness", fairness_json()) == (
        "B's p99 with A's flood 1.50 × alone (target ≤ 2; arrival order 30.00 ×); "
        "A's throughput beside B 0.97 × alone (target ≥ 0.9)"
    )
