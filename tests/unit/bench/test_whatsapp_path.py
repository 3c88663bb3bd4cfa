"""bench/whatsapp_path.py's figures in the report, its CPU meter, profile areas and fake Twilio
(no benchmark runs here)."""

from __future__ import annotations

import cProfile
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.report_tables import TABLES, headline
from bench.run_all import BENCHMARKS
from bench.whatsapp_cpu import CpuMeter, per_message_ms
from bench.whatsapp_fakes import CountingTwilio
from bench.whatsapp_profile import OTHER, area_of, by_area
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN


def phase(cpu: dict[str, float], answered_per_s: float, p99: float) -> dict[str, Any]:
    return {
        "messages": 300,
        "answered": 300,
        "rate": 20.0,
        "answered_per_s": answered_per_s,
        "latency_p50_ms": p99 / 2,
        "latency_p99_ms": p99,
        "drained_s_after_last_sent": p99 / 500,
        "cpu_s": {},
        "cpu_ms_per_message": {**cpu, "total": sum(cpu.values())},
    }


OUTSIDE = {"fake_twilio": 1.0, "fake_openai": 0.0, "load_generator": 0.5}
OURS = {"api": 4.0, "worker": 12.0, "postgres": 6.0, "postgres_server": 0.5, "rabbitmq": 2.5}
NAIVE = {"naive": 5.0, "postgres": 2.0, "postgres_server": 0.0}
PROFILE = {
    "messages": 330,
    "profiled_cpu_ms_per_message": 40.0,
    "areas": [{"area": "Dramatiq, pika (AMQP)", "ms_per_message": 12.0, "share": 0.3}],
    "top_cumulative": [
        {
            "function": "dramatiq/worker.py:542(process_message)",
            "calls": 990,
            "cumulative_ms_per_message": 30.0,
        },
    ],
}


def whatsapp_path_json(*, naive: bool = True) -> dict[str, Any]:
    """The file bench/whatsapp_path.py writes at ``--out`` (its figures abridged)."""
    modes: dict[str, Any] = {}
    for mode in ("offline", "openai"):
        ours = {
            "warmup": phase(OURS, 20.0, 60.0),
            "paced": phase({**OURS, **OUTSIDE}, 19.8, 60.0),
            "burst": phase({**OURS, **OUTSIDE}, 80.0, 3000.0),
            "idle_cpu_ms_per_s": {"worker": 20.0, "total": 30.0},
        }
        modes[mode] = {"switchboard": ours}
        if naive:
            modes[mode]["naive"] = {
                "paced": phase({**NAIVE, "rabbitmq": 1.0, **OUTSIDE}, 20.0, 12.0),
                "burst": phase({**NAIVE, "rabbitmq": 0.0, **OUTSIDE}, 160.0, 1500.0),
                "idle_cpu_ms_per_s": {"naive": 4.0, "total": 6.0},
            }
            for name in ("paced", "burst"):  # RabbitMQ is not in its total
                modes[mode]["naive"][name]["cpu_ms_per_message"]["total"] = 7.0
    for side in (m["switchboard"][p] for m in modes.values() for p in ("paced", "burst")):
        side["cpu_ms_per_message"]["total"] = 25.0
    return {
        "messages": 300,
        "rate": 20.0,
        "openai_delay_ms": 300.0,
        "worker_processes": 1,
        "worker_threads": 8,
        "modes": modes,
        "bare": phase({"bare": 0.9}, 20.0, 0.0),
        "profile": PROFILE,
    }


def test_each_mode_puts_switchboards_cpu_per_message_beside_the_naive_baselines() -> None:
    lines = TABLES["whatsapp_path"](whatsapp_path_json())
    table = "\n".join(lines)

    assert "With the offline agent:" in table and "With a fake OpenAI of 300 ms:" in table
    assert "| paced: **CPU per answered message** | **25.0 ms** | **7.00 ms** | **3.57** |" in table
    assert "| burst: answered messages/s | 80.0 | 160 | 0.50 |" in table
    assert (
        "| paced: inbound → reply at Twilio, p50 / p99 | 30.0 / 60.0 ms | 6.00 / 12.0 ms | 5.00 |"
        in table
    )
    assert "| — worker (all its processes) | 12.0 ms | – |  |" in table
    assert "| paced: last reply after the last webhook | 0.12 s | 0.02 s |  |" in table
    assert "| — the naive process | – | 5.00 ms |  |" in table
    assert "| idle (before the phases): CPU per second | 30.0 ms | 6.00 ms | 5.00 |" in table
    assert "| — not ours: fake Twilio / fake OpenAI / load | 1.00 / 0.00 / 0.50 ms" in table
    assert (
        "bare FastAPI endpoint (receives the webhook, does nothing) under the paced load: 0.90 ms"
        in table
    )


def test_the_profile_shows_each_areas_share_and_the_top_functions() -> None:
    table = "\n".join(TABLES["whatsapp_path"](whatsapp_path_json()))

    assert "| Dramatiq, pika (AMQP) | 12.0 | 30 % |" in table
    assert "| `dramatiq/worker.py:542(process_message)` | 30.0 | 990 |" in table


def test_without_the_naive_baseline_its_column_shows_dashes() -> None:
    table = "\n".join(TABLES["whatsapp_path"](whatsapp_path_json(naive=False)))

    assert "| paced: **CPU per answered message** | **25.0 ms** | **–** |  |" in table


def test_the_headline_gives_cpu_per_message_against_the_naive_baseline_per_mode() -> None:
    assert headline("whatsapp_path", whatsapp_path_json()) == (
        "offline: 25.0 ms CPU per answered message = 3.57 × naive; "
        "openai: 25.0 ms CPU per answered message = 3.57 × naive"
    )


def test_the_whole_path_runs_with_the_others_with_a_smoke_size_and_its_own_file() -> None:
    (path,) = [b for b in BENCHMARKS if b.name == "whatsapp_path"]

    assert path.takes_out and path.kind == "whatsapp_path"
    assert "--profile" in path.sizes["smoke"] and path.sizes["full"][:2] == ["--messages", "300"]


def test_cpu_per_message_totals_only_our_parts() -> None:
    seconds = {"api": 0.3, "worker": 0.9, "fake_twilio": 0.6}

    figures = per_message_ms(seconds, 300, ours=("api", "worker"))

    assert figures == {"api": 1.0, "worker": 3.0, "fake_twilio": 2.0, "total": 4.0}
    assert per_message_ms(seconds, 0, ours=("api",)) == {}


def test_the_meter_counts_the_cpu_a_process_spends_between_start_and_stop() -> None:
    meter = CpuMeter({"this process": lambda: [psutil.Process()], "nobody": lambda: []})
    meter.start()
    deadline = time.thread_time() + 0.05
    while time.thread_time() < deadline:  # spend 50 ms of CPU
        pass

    spent = meter.stop()

    assert 0.03 <= spent["this process"] < 5 and spent["nobody"] == 0


def test_code_is_grouped_by_where_it_lives_and_builtins_by_their_name() -> None:
    site = "/venv/lib/python3.11/site-packages"
    assert area_of(f"{site}/sqlalchemy/engine/base.py") == "SQL (SQLAlchemy, psycopg)"
    assert area_of(f"{site}/pika/adapters/select_connection.py") == "Dramatiq, pika (AMQP)"
    assert area_of("/src/switchboard/common/integrations/twilio_client.py").startswith("Twilio")
    assert area_of("~", "<method 'execute' of 'psycopg.Cursor' objects>").startswith("SQL")
    assert area_of("~", "<built-in method builtins.isinstance>") == OTHER


def test_a_profiles_areas_add_up_to_its_whole_own_time(tmp_path: Path) -> None:
    profiler = cProfile.Profile(time.thread_time_ns, 1e-9)
    profiler.enable()
    for _ in range(2000):
        json.loads(json.dumps({"a": [1, 2, 3]}))
    profiler.disable()
    profiler.dump_stats(tmp_path / "worker-1.prof")

    figures = by_area([tmp_path / "worker-1.prof"], messages=10, keep=tmp_path / "merged.prof")

    assert abs(sum(area["share"] for area in figures["areas"]) - 1) < 0.01
    assert figures["areas"][0]["area"] == "JSON (json, orjson)"
    assert (tmp_path / "merged.prof").exists()


def test_the_fake_twilio_tells_how_many_replies_arrived_and_when() -> None:
    with CountingTwilio.running() as twilio:
        before = time.time()
        created = httpx.post(
            f"{twilio.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            data={"To": "whatsapp:+15550000001", "From": "whatsapp:+15550000002", "Body": "Hi"},
            auth=(ACCOUNT_SID, AUTH_TOKEN),
        )
        count = httpx.get(f"{twilio.url}/bench/received").json()
        arrivals = httpx.get(f"{twilio.url}/bench/received", params={"times": 1}).json()

    assert created.status_code == 201
    assert count == {"count": 1}
    assert arrivals["arrivals"]["whatsapp:+15550000001"] >= before


def test_idle_seconds_of_zero_or_not_a_number_is_refused_before_any_setup() -> None:
    """The idle phase's CPU is divided by its seconds: 0 would end the run in a
    ZeroDivisionError after the whole setup and warm-up."""
    for value, says in (("0", "more than 0"), ("-1", "more than 0"), ("x", "not a number")):
        done = subprocess.run(
            [sys.executable, "bench/whatsapp_path.py", "--idle-seconds", value],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[3],
        )
        assert done.returncode == 2
        assert "argument --idle-seconds:" in done.stderr
        assert says in done.stderr
