"""What each benchmark script leaves behind, in its own shape (as a run on the CI machine did).

bench/jobs.py and bench/gateway.py write a JSON file; bench/whatsapp.py prints progress lines
and then its JSON; bench/number_lookup.py prints one line per way among its log lines.
"""

from __future__ import annotations

import json
from typing import Any


def jobs_json(rounds: int = 3) -> dict[str, Any]:
    """bench/jobs.py's bench/results/jobs.json."""
    ours = {
        "enqueue_per_s": 450.0,
        "jobs_per_s_with_start": 1344.2,
        "jobs_per_s_steady": 1711.0,
        "worker_start_s": 2.07,
        **{"cpu_ms_worker": 1.46, "cpu_ms_postgres": 0.18, "cpu_ms_postgres_server": 0.004},
        **{"cpu_ms_rabbitmq": 0.15, "cpu_ms_redis": 0.056, "cpu_ms_total": 1.85},
    }
    plain = {
        "enqueue_per_s": 513.0,
        "jobs_per_s_with_start": 1974.0,
        "jobs_per_s_steady": 2227.0,
        "worker_start_s": 0.40,
        **{"cpu_ms_worker": 0.816, "cpu_ms_postgres": 0.0, "cpu_ms_postgres_server": 0.0},
        **{"cpu_ms_rabbitmq": 0.158, "cpu_ms_redis": 0.042, "cpu_ms_total": 1.016},
    }
    paced = {"rate_per_s": 199.8, "latency_mean_ms": 6.1}
    return {
        "jobs": 10_000,
        "processes": 2,
        "threads": 8,
        "switchboard": {
            **ours,
            **paced,
            "latency_p50_ms": 5.7,
            "latency_p99_ms": 13.9,
            "imports_s": 1.84,
        },
        "plain dramatiq": {
            **plain,
            **paced,
            "latency_p50_ms": 1.6,
            "latency_p99_ms": 3.9,
            "imports_s": 0.33,
        },
        "rounds": {"switchboard": [ours] * rounds, "plain dramatiq": [plain] * rounds},
        "ratio_jobs_per_s_steady_per_round": [0.67, 0.78, 0.89][:rounds],
        "ratio_jobs_per_s_with_start": 0.681,
        "ratio_jobs_per_s_steady": 0.768,
    }


def whatsapp_json(*, with_worker: bool = True) -> dict[str, Any]:
    """The JSON bench/whatsapp.py prints last."""
    result: dict[str, Any] = {
        "rate": 300.0,
        "seconds": 10.0,
        "warmup_seconds": 1.0,
        "connections": [32, 128],
        "api_workers": 1,
        "worker_processes": 1 if with_worker else 0,
        "worker_threads": 8,
        "worker_nice": 10,
        "concurrency": 8,
        "no_analyze": False,
        "switchboard_paced": {
            "requests": 3000,
            "rate_per_s": 299.1,
            "p50_ms": 28.0,
            "p99_ms": 215.0,
            "max_ms": 400.2,
        },
        "bare_paced": {
            "requests": 3000,
            "rate_per_s": 299.9,
            "p50_ms": 1.2,
            "p99_ms": 15.0,
            "max_ms": 30.0,
        },
        "switchboard_closed_loop": [
            {
                "connections": 32,
                "requests": 6830,
                "throughput_per_s": 683.0,
                "p50_ms": 40.0,
                "p99_ms": 120.0,
            },
            {
                "connections": 128,
                "requests": 7890,
                "throughput_per_s": 789.0,
                "p50_ms": 150.0,
                "p99_ms": 400.0,
            },
        ],
        "bare_closed_loop": [
            {
                "connections": 32,
                "requests": 24000,
                "throughput_per_s": 2400.0,
                "p50_ms": 12.0,
                "p99_ms": 30.0,
            },
            {
                "connections": 128,
                "requests": 24650,
                "throughput_per_s": 2465.6,
                "p50_ms": 50.0,
                "p99_ms": 90.0,
            },
        ],
        "throughput_vs_ceiling": 0.32,
        "throughput_vs_ceiling_per_round": [0.3, 0.34, 0.31],
        "throughput_vs_ceiling_median_of_rounds": 0.31,
        "replies_sent": 0,
    }
    if with_worker:
        result["reply_enqueued"] = {
            "answered": "3300/3300",
            "replies_per_s": 36.0,
            "p50_ms": 2716.2,
            "p99_ms": 5210.2,
            "mean_ms": 2883.0,
        }
        result["replies_sent"] = 3300
    return result


def whatsapp_stdout(*, with_worker: bool = True) -> str:
    """bench/whatsapp.py's whole stdout: progress lines, then its figures."""
    progress = [
        "paced: 3000 signed webhooks at 300.0/s (after 300 to warm up) → switchboard api …",
        "paced: same load → bare FastAPI …",
        "closed loop: 32 connections → switchboard …",
    ]
    return (
        "\n".join(progress)
        + "\n"
        + json.dumps(whatsapp_json(with_worker=with_worker), indent=2)
        + "\n"
    )


def _gateway_run(server: str, calls: int, **figures: Any) -> dict[str, Any]:
    return {
        "server": server,
        "calls": calls,
        "seconds": 20.3,
        "calls_lost": 0,
        "cpu_percent": 44.8,
        "rss_mb": 60.0,
        "loadgen_cpu_percent": 30.0,
        "other_cpu_percent": 5.5,
        "client_frames_received": 100_000,
        "loadgen_tick_late_p99_ms": 0.8,
        "frames_dropped": 0,
        **figures,
    }


def gateway_json(*, baseline: bool = True, before: bool = False) -> dict[str, Any]:
    """The file bench/gateway.py writes at ``--out`` (``before``: with ``--compare-tree``)."""
    runs = [
        _gateway_run(
            "gateway",
            200,
            server_jitter_p50_ms=1.73,
            server_jitter_p99_ms=4.12,
            server_jitter_max_ms_at_most=25.0,
            frames_out=112_074,
            frames_late=0,
            client_jitter_p50_ms=1.64,
            client_jitter_p99_ms=4.64,
            client_jitter_max_ms=28.0,
            cpu_ms_per_call_second=2.24,
            rss_kb_per_call=119.0,
            threads=7,
        )
    ]
    if baseline:
        runs.append(
            _gateway_run(
                "baseline",
                200,
                server_jitter_p50_ms=12_089.0,
                server_jitter_p99_ms=21_801.0,
                server_jitter_max_ms=25_000.0,
                frames_out=49_578,
                frames_late=49_574,
                client_jitter_p50_ms=122.0,
                client_jitter_p99_ms=1132.0,
                client_jitter_max_ms=2357.0,
                cpu_ms_per_call_second=6.99,
                rss_kb_per_call=619.0,
                threads=1202,
            )
        )
    result: dict[str, Any] = {"machine_cpus": 2, "frame_bytes": 160, "results": runs}
    if before:
        runs.append(
            _gateway_run(
                "before",
                200,
                server_jitter_p50_ms=1.9,
                server_jitter_p99_ms=5.02,
                server_jitter_max_ms_at_most=30.0,
                frames_out=111_980,
                frames_late=3,
                client_jitter_p50_ms=1.8,
                client_jitter_p99_ms=5.5,
                client_jitter_max_ms=31.0,
                cpu_ms_per_call_second=4.48,
                cpu_system_ms_per_call_second=0.6,
                rss_kb_per_call=120.0,
                threads=7,
            )
        )
        runs[0]["cpu_system_ms_per_call_second"] = 0.2
        result.update(compare_tree="/work/base", knee={"gateway": None, "before": 200})
    return result


NUMBER_LOOKUP_STDOUT = """\
2026-12-04 12:41:48 [info     ] migrations.applying            target=0019
2026-12-04 12:41:49 [info     ] whatsapp.inbound               business_id=1 new=True sid=SM1
remembered, checked (the code): 462 µs/message (rounds 470, 455, 462)
read every time: 1118 µs/message (rounds 1100, 1118, 1200)
remembered, unchecked (before): 438 µs/message (rounds 440, 438, 430)
"""
