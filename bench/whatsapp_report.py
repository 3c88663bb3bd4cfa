"""bench/whatsapp_path.py's figures as docs/benchmarks.md shows them.

One table per agent mode (Switchboard beside the naive baseline, and the ratio), the bare
endpoint's CPU per webhook, and, when the run profiled the worker, where its CPU went.
``bench/report_tables.py`` registers these with the other scripts' tables.
"""

from __future__ import annotations

from typing import Any

from bench.report_tables import Row, markdown_table, num, ratio

#: The process groups of a phase, as the table names them; the first is each side's own.
PARTS = (
    ("api", "API (`switchboard api`)"),
    ("worker", "worker (all its processes)"),
    ("naive", "the naive process"),
    ("postgres", "PostgreSQL backends of the bench's database"),
    ("postgres_server", "PostgreSQL server processes (shared by all databases)"),
    ("rabbitmq", "RabbitMQ `beam.smp` (the whole broker)"),
)
OUTSIDE = (
    ("fake_twilio", "fake Twilio"),
    ("fake_openai", "fake OpenAI"),
    ("load_generator", "load"),
)


def _table(header: list[str], rows: list[tuple[str, str, str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _bold(text: str) -> str:
    return f"**{text}**" if text else ""


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{num(value)} ms"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{num(value)} s"


def _phase_rows(name: str, ours: dict[str, Any], base: dict[str, Any]) -> list[Row]:
    mine, theirs = ours["cpu_ms_per_message"], base.get("cpu_ms_per_message", {})
    rows: list[Row] = [
        (
            f"{name}: answered messages/s",
            num(ours["answered_per_s"]),
            num(base.get("answered_per_s")),
            ratio(ours["answered_per_s"], base.get("answered_per_s")),
        ),
        (
            f"{name}: inbound → reply at Twilio, p50 / p99",
            f"{num(ours['latency_p50_ms'])} / {num(ours['latency_p99_ms'])} ms",
            f"{num(base.get('latency_p50_ms'))} / {num(base.get('latency_p99_ms'))} ms",
            ratio(ours["latency_p99_ms"], base.get("latency_p99_ms")),
        ),
        (
            f"{name}: last reply after the last webhook",
            _s(ours.get("drained_s_after_last_sent")),
            _s(base.get("drained_s_after_last_sent")),
            "",
        ),
        (
            f"{name}: **CPU per answered message**",
            f"**{_ms(mine['total'])}**",
            f"**{_ms(theirs.get('total'))}**",
            _bold(ratio(mine["total"], theirs.get("total"))),
        ),
    ]
    for part, label in PARTS:
        if part in mine or part in theirs:
            rows.append((f"— {label}", _ms(mine.get(part)), _ms(theirs.get(part)), ""))
    outside = " / ".join(label for _, label in OUTSIDE)
    rows.append(
        (
            f"— not ours: {outside}",
            " / ".join(num(mine.get(part)) for part, _ in OUTSIDE) + " ms",
            " / ".join(num(theirs.get(part)) for part, _ in OUTSIDE) + " ms" if theirs else "–",
            "",
        )
    )
    answered = f"{ours['answered']}/{ours['messages']}"
    if base:
        answered += f" vs {base['answered']}/{base['messages']}"
    rows.append((f"{name}: answered", answered, "", ""))
    return rows


def path_table(result: dict[str, Any]) -> list[str]:
    """Per agent mode: paced and burst, Switchboard beside the naive baseline."""
    delay = num(result["openai_delay_ms"])
    lines = [
        f"{result['messages']:,} messages per phase, each from a new contact: paced "
        f"{num(result['rate'])}/s, then all at once (burst). The worker "
        f"{result['worker_processes']} × {result['worker_threads']} threads. CPU per answered "
        "message from each process's CPU counters over the phase (webhooks sent → every reply "
        "at Twilio and the job ledger drained); the total is ours: the rows above the "
        "outside world's. Naive baseline: one process answering each webhook inline, one "
        "transaction per step, no queue, no tenancy, leads, limits or ledger "
        "(`bench/whatsapp_naive.py`); RabbitMQ's idle CPU is not in its total.",
        "",
    ]
    for mode, figures in result["modes"].items():
        agent = "the offline agent" if mode == "offline" else f"a fake OpenAI of {delay} ms"
        ours, base = figures["switchboard"], figures.get("naive", {})
        rows: list[Row] = []
        for phase in ("paced", "burst"):
            if phase in ours:
                rows += _phase_rows(phase, ours[phase], base.get(phase, {}))
        idle = (ours.get("idle_cpu_ms_per_s") or {}).get("total")
        idle_base = (base.get("idle_cpu_ms_per_s") or {}).get("total")
        rows.append(
            (
                "idle (before the phases): CPU per second",
                _ms(idle),
                _ms(idle_base),
                ratio(idle, idle_base),
            )
        )
        lines += [f"With {agent}:", ""]
        lines += markdown_table(["", "Switchboard", "naive baseline", "ratio"], rows)
        lines.append("")
    bare = result.get("bare")
    if bare:
        lines += [
            f"The bare FastAPI endpoint (receives the webhook, does nothing) under the paced "
            f"load: {_ms(bare['cpu_ms_per_message']['total'])} of CPU per webhook.",
            "",
        ]
    if result.get("profile"):
        lines += profile_table(result["profile"])
    return lines[:-1] if lines[-1] == "" else lines


def profile_table(profile: dict[str, Any]) -> list[str]:
    """The profiled worker's own CPU time per message, grouped by area."""
    rows = [
        (area["area"], num(area["ms_per_message"]), f"{area['share'] * 100:.0f} %")
        for area in profile["areas"]
    ]
    top = [
        (f"`{entry['function']}`", num(entry["cumulative_ms_per_message"]), f"{entry['calls']:,}")
        for entry in profile["top_cumulative"][:12]
    ]
    return [
        f"Where the worker's CPU goes (offline agent, under `cProfile` with each thread's CPU "
        f"clock, {profile['messages']:,} messages; the profiler inflates the total to "
        f"{num(profile['profiled_cpu_ms_per_message'])} ms per message, the shares hold):",
        "",
        *_table(["area (own time)", "ms per message", "share"], rows),
        "",
        "Its top functions by cumulative time:",
        "",
        *_table(["function", "cumulative ms per message", "calls"], top),
        "",
    ]


def path_headline(result: dict[str, Any]) -> str:
    """CPU per answered message (paced) against the naive baseline, for each mode."""
    parts = []
    for mode, figures in result["modes"].items():
        ours = figures["switchboard"]["paced"]["cpu_ms_per_message"]["total"]
        base = figures.get("naive", {}).get("paced", {}).get("cpu_ms_per_message", {})
        versus = f" = {ratio(ours, base['total'])} × naive" if base.get("total") else ""
        parts.append(f"{mode}: {num(ours)} ms CPU per answered message{versus}")
    return "; ".join(parts)
