"""The benchmark report, built from each script's own output shape (no benchmark runs here)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.report import (
    Outcome,
    last_json_object,
    number_lookup_figures,
    render_json,
    render_markdown,
)
from bench.report_tables import (
    gateway_table,
    headline,
    jobs_table,
    number_lookup_table,
    whatsapp_table,
)
from tests.unit.bench import outputs

MACHINE = {
    "cpu_count": 2,
    "cpu_model": "AMD EPYC",
    "memory": "23.5 GiB",
    "load_average": "1.10, 1.20, 1.30 / 1.50, 1.40, 1.30",
    "os": "Linux-6.1-x86_64",
    "python": "3.11.7",
    "postgresql": "15.20",
    "rabbitmq": "3.10.8",
    "redis": "7.0.15",
    "git_commit": "1ad2ac966025b47e6ef614e72fe6a5950c8f2a0f",
    "git_dirty": True,
}
RUN = {
    "started_at": "2026-12-04 12:44 UTC",
    "command": "python bench/run_all.py --full",
    "size": "full",
    "seconds": 754.2,
    "machine": MACHINE,
}


def ran(name: str, kind: str, result: dict[str, Any], seconds: float = 60.0) -> Outcome:
    return Outcome(name, kind, ["python", f"bench/{kind}.py"], seconds, 0, result=result)


def every_benchmark() -> list[Outcome]:
    return [
        ran("jobs", "jobs", outputs.jobs_json()),
        ran("whatsapp", "whatsapp", last_json_object(outputs.whatsapp_stdout())),
        ran(
            "whatsapp_api_alone",
            "whatsapp",
            last_json_object(outputs.whatsapp_stdout(with_worker=False)),
        ),
        ran("gateway", "gateway", outputs.gateway_json()),
        ran("number_lookup", "number_lookup", number_lookup_figures(outputs.NUMBER_LOOKUP_STDOUT)),
    ]


def test_jobs_figures_sit_beside_plain_dramatiqs_with_the_ratio_per_round() -> None:
    table = "\n".join(jobs_table(outputs.jobs_json()))

    assert "| jobs/s, worker start included (median of 3) | 1,344 | 1,974 | 0.68 |" in table
    assert (
        "| jobs/s, steady (median of 3) | 1,711 | 2,227 | 0.77 (per round 0.67, 0.78, 0.89) |"
        in table
    )
    assert (
        "| enqueue → start p50 / p99, paced 200/s | 5.70 / 13.9 ms | 1.60 / 3.90 ms |  |" in table
    )
    assert "| worker start, s (spawn to 1st job) | 2.07 | 0.40 | 5.2× slower |" in table
    assert (
        "| imports alone, s (a new interpreter importing the worker's modules, to their end) "
        "| 1.84 | 0.33 | 5.6× slower |" in table
    )
    assert (
        "| CPU ms per job, draining: worker + PostgreSQL + RabbitMQ + Redis "
        "| 1.85 = 1.46 + 0.18 + 0.15 + 0.06 | 1.02 = 0.82 + 0.00 + 0.16 + 0.04 | 1.82 |" in table
    )


def test_one_round_of_jobs_shows_no_per_round_ratios() -> None:
    table = "\n".join(jobs_table(outputs.jobs_json(rounds=1)))

    assert "| jobs/s, steady (1 round) | 1,711 | 2,227 | 0.77 |" in table


def test_jobs_without_the_paced_phase_shows_no_latency_row() -> None:
    result = outputs.jobs_json()
    for side in ("switchboard", "plain dramatiq"):  # what --paced-jobs 0 leaves out
        for key in ("rate_per_s", "latency_mean_ms", "latency_p50_ms", "latency_p99_ms"):
            del result[side][key]
    table = "\n".join(jobs_table(result))

    assert "enqueue → start" not in table
    assert "| jobs/s, worker start included (median of 3) | 1,344 | 1,974 | 0.68 |" in table


def test_worker_starts_timed_alone_show_their_median() -> None:
    result = outputs.jobs_json()
    result["switchboard"]["worker_start_alone_s"] = [1.0, 1.2, 0.9]
    result["switchboard"]["worker_start_median_s"] = 1.0
    result["plain dramatiq"]["worker_start_alone_s"] = [0.2, 0.25, 0.3]
    result["plain dramatiq"]["worker_start_median_s"] = 0.25
    table = "\n".join(jobs_table(result))

    assert "| worker start alone, s (median of 3) | 1.00 | 0.25 | 4.0× slower |" in table
    assert "worker start alone" not in "\n".join(jobs_table(outputs.jobs_json()))


def test_whatsapps_figures_are_read_after_its_progress_lines() -> None:
    assert last_json_object(outputs.whatsapp_stdout()) == outputs.whatsapp_json()


def test_whatsapp_throughput_at_each_level_is_compared_with_the_bare_endpoints() -> None:
    table = "\n".join(whatsapp_table(outputs.whatsapp_json()))

    assert "| paced 300/s: latency p99 | 215 ms | 15.0 ms |  |" in table
    assert "| closed loop, 32 connections | 683/s (p99 120 ms) | 2,400/s | 0.28 |" in table
    assert "| throughput, each side's best level |  |  | 0.32 |" in table
    assert "| the same in each of 3 rounds |  |  | 0.30, 0.34, 0.31 |" in table
    assert "| replies enqueued per second (answered 3300/3300) | 36.0 |  |  |" in table


def test_the_api_alone_has_no_reply_rows() -> None:
    table = "\n".join(whatsapp_table(outputs.whatsapp_json(with_worker=False)))

    assert "no worker (the API alone)" in table
    assert "replies" not in table


def test_gateway_figures_sit_beside_the_thread_per_call_baselines() -> None:
    table = "\n".join(gateway_table(outputs.gateway_json()))

    assert "200 concurrent calls for 20.3 s:" in table
    assert "| server TX jitter p50 / p99 | 1.73 / 4.12 ms | 12,089 / 21,801 ms | 0.00019 |" in table
    assert (
        "| frames late (> 20 ms) / dropped | 0 / 0 of 112,074 | 49,574 / 0 of 49,578 |  |" in table
    )
    assert "| CPU per call-second | 2.24 ms | 6.99 ms | 0.32 |" in table
    assert "| threads | 7 | 1,202 |  |" in table


def test_gateway_without_its_baseline_shows_dashes_and_no_ratio() -> None:
    table = "\n".join(gateway_table(outputs.gateway_json(baseline=False)))

    assert "| CPU per call-second | 2.24 ms | – |  |" in table


def test_gateway_figures_sit_beside_the_compared_trees_gateway_with_the_knee() -> None:
    table = "\n".join(gateway_table(outputs.gateway_json(before=True)))

    assert "| CPU per call-second | 2.24 ms | 6.99 ms | 0.32 |" in table  # the baseline's
    assert "The same 200 calls against the compared tree, same run:" in table
    assert "| gateway | gateway of `/work/base` | ratio |" in table
    assert "| CPU per call-second | 2.24 ms | 4.48 ms | 0.50 |" in table
    assert "| of which the kernel's | 0.20 ms | 0.60 ms |  |" in table
    assert "| server TX jitter p50 / p99 | 1.73 / 4.12 ms | 1.90 / 5.02 ms | 0.82 |" in table
    assert "| frames late (> 20 ms) / dropped | 0 / 0 of 112,074 | 3 / 0 of 111,980 |  |" in table
    assert "Knee (fewest calls with p99 server jitter > 10 ms, a dropped frame or a lost" in table
    assert "call): gateway: none up to 200, before: 200." in table


def test_gateway_headline_names_the_cpu_ratio_to_the_compared_tree() -> None:
    line = headline("gateway", outputs.gateway_json(before=True))

    assert line == (
        "CPU per call-second 0.32 × the baseline; 0 of 112,074 frames late;"
        " CPU per call-second 0.50 × the compared tree's"
    )


def test_number_lookup_lines_are_found_among_its_log_lines_and_compared_with_the_code() -> None:
    figures = number_lookup_figures(outputs.NUMBER_LOOKUP_STDOUT)
    table = "\n".join(number_lookup_table(figures))

    assert [way["median_us"] for way in figures["ways"]] == [462, 1118, 438]
    assert "| remembered, checked (the code) | 462 | 470, 455, 462 | 1.00 |" in table
    assert "| read every time | 1,118 | 1,100, 1,118, 1,200 | 2.42 |" in table


@pytest.mark.parametrize(
    "read", [last_json_object, number_lookup_figures], ids=["whatsapp", "number_lookup"]
)
def test_output_without_figures_is_an_error_not_an_empty_table(read: Any) -> None:
    with pytest.raises(ValueError, match="no"):
        read("Traceback (most recent call last):\n  ...\nConnectionRefusedError\n")


def test_the_report_names_the_machine_and_the_commit_and_sums_up_every_benchmark() -> None:
    report = render_markdown(RUN, every_benchmark())

    assert report.startswith("# Benchmarks, 2026-12-04 12:44 UTC\n")
    assert "`python bench/run_all.py --full` (full sizes) — 12 min 34 s, all 5 ran." in report
    assert "| CPUs | 2 × AMD EPYC |" in report
    assert "| PostgreSQL | 15.20 |" in report
    assert "| RabbitMQ | 3.10.8 |" in report
    assert "| commit | 1ad2ac966025b47e6ef614e72fe6a5950c8f2a0f (uncommitted changes) |" in report
    assert (
        "| jobs | ran | 1 min 0 s | steady 0.77, with the worker's start 0.68 × plain Dramatiq |"
        in report
    )
    for title in (
        "## Jobs",
        "## WhatsApp webhooks:",
        "## WhatsApp webhooks, the API alone",
        "## Voice gateway",
        "## The number's business",
    ):
        assert title in report


def test_a_failed_benchmark_is_reported_with_its_outputs_last_lines_and_the_others_still_show() -> (
    None
):
    failed = Outcome(
        "gateway",
        "gateway",
        ["python", "bench/gateway.py", "--calls", "200"],
        4.0,
        1,
        error="exit code 1",
        output_tail="Traceback (most recent call last):\nAssertionError: gateway did not start",
        logs=["var/bench/report-x/gateway.stdout", "var/bench/report-x/gateway.stderr"],
    )
    outcomes = [*every_benchmark()[:3], failed]

    report = render_markdown(RUN, outcomes)

    assert "3 of 4 ran, 1 failed." in report
    assert "| gateway | **failed** | 4 s | exit code 1 |" in report
    assert "**Failed**: exit code 1." in report
    assert (
        "```text\nTraceback (most recent call last):\nAssertionError: gateway did not start\n```"
        in report
    )
    assert "`var/bench/report-x/gateway.stderr`" in report
    assert "| jobs/s, steady (median of 3) | 1,711 |" in report


def test_the_json_twin_holds_every_scripts_full_figures_and_whether_all_ran() -> None:
    outcomes = every_benchmark()
    failed = Outcome(
        "jobs",
        "jobs",
        ["python", "bench/jobs.py"],
        2.0,
        None,
        error="stopped after its 1800 s timeout",
    )

    twin = json.loads(render_json(RUN, [*outcomes, failed]))

    assert twin["machine"]["git_dirty"] is True
    assert twin["all_ran"] is False
    assert [b["status"] for b in twin["benchmarks"]] == ["ran"] * 5 + ["failed"]
    assert twin["benchmarks"][0]["result"] == outputs.jobs_json()
    assert twin["benchmarks"][-1]["error"] == "stopped after its 1800 s timeout"


def test_the_fair_share_off_side_is_shown_beside_plain_dramatiq_when_it_ran() -> None:
    result = outputs.jobs_json()
    result["switchboard, fair share off"] = {
        "jobs_per_s_with_start": 2447.0,
        "jobs_per_s_steady": 3067.0,
        "enqueue_per_s": 1325.0,
    }
    table = "\n".join(jobs_table(result))

    assert "| fair share off: jobs/s, worker start included | 2,447 | 1,974 | 1.24 |" in table
    assert "| fair share off: enqueue/s, batched | 1,325 | 513 | 2.58 |" in table
    assert "fair share off" not in "\n".join(jobs_table(outputs.jobs_json()))
