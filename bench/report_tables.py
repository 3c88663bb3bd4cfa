"""The figures of each benchmark as docs/benchmarks.md shows them: one table per script.

Each table takes a script's figures (its JSON, as bench/report.py reads it) and returns
Markdown lines: the same rows docs/benchmarks.md shows, Switchboard beside the baseline
measured in the same run, and the ratio (Switchboard ÷ baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Row = tuple[str, str, str, str]

# --- formatting ------------------------------------------------------------------------------


def num(value: float | None) -> str:
    """A figure with about the precision docs/benchmarks.md uses: 1,344, 28.0, 5.70."""
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(ours: float | None, baseline: float | None) -> str:
    """``ours ÷ baseline`` to two decimals, or a dash when either is missing or zero."""
    if ours is None or not baseline:
        return ""
    value = ours / baseline
    # Two significant digits when small: the gateway's jitter is 1/5,000th of the baseline's.
    return f"{value:.2g}" if 0 < abs(value) < 0.1 else f"{value:.2f}"


def markdown_table(header: Sequence[str], rows: Sequence[Row]) -> list[str]:
    """A Markdown table: the header, then one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# --- the tables, one per script, as docs/benchmarks.md shows them ---------------------------


def _cpu_parts(side: dict[str, Any]) -> str:
    """A drain's CPU per job: the total, then the worker, PostgreSQL (its backends and its
    own processes), RabbitMQ and Redis."""
    postgres = side["cpu_ms_postgres"] + side["cpu_ms_postgres_server"]
    parts = (side["cpu_ms_worker"], postgres, side["cpu_ms_rabbitmq"], side["cpu_ms_redis"])
    return f"{side['cpu_ms_total']:.2f} = " + " + ".join(f"{part:.2f}" for part in parts)


def _seconds_row(label: str, key: str, ours: dict[str, Any], plain: dict[str, Any]) -> list[Row]:
    """A time of both sides and how many times slower ours is; none if the run lacks it."""
    if key not in ours:
        return []
    return [
        (label, f"{ours[key]:.2f}", f"{plain[key]:.2f}", f"{ours[key] / plain[key]:.1f}× slower")
    ]


def jobs_table(result: dict[str, Any]) -> list[str]:
    """bench/jobs.py: jobs/s with the worker's start and steady, enqueue rate, paced latency."""
    ours, plain = result["switchboard"], result["plain dramatiq"]
    rounds = len(result.get("ratio_jobs_per_s_steady_per_round", [])) or 1
    per_round = ", ".join(f"{r:.2f}" for r in result.get("ratio_jobs_per_s_steady_per_round", []))
    steady_ratio = f"{result['ratio_jobs_per_s_steady']:.2f}" + (
        f" (per round {per_round})" if rounds > 1 else ""
    )
    median = f"median of {rounds}" if rounds > 1 else "1 round"
    rows: list[Row] = [
        (
            f"jobs/s, worker start included ({median})",
            num(ours["jobs_per_s_with_start"]),
            num(plain["jobs_per_s_with_start"]),
            f"{result['ratio_jobs_per_s_with_start']:.2f}",
        ),
        (
            f"jobs/s, steady ({median})",
            num(ours["jobs_per_s_steady"]),
            num(plain["jobs_per_s_steady"]),
            steady_ratio,
        ),
        (
            "enqueue/s, batched",
            num(ours["enqueue_per_s"]),
            num(plain["enqueue_per_s"]),
            ratio(ours["enqueue_per_s"], plain["enqueue_per_s"]),
        ),
        *_seconds_row("worker start, s (spawn to 1st job)", "worker_start_s", ours, plain),
        *_seconds_row(
            f"worker start alone, s (median of {len(ours.get('worker_start_alone_s', []))})",
            "worker_start_median_s",
            ours,
            plain,
        ),
        *_seconds_row(
            "imports alone, s (a new interpreter importing the worker's modules, to their end)",
            "imports_s",
            ours,
            plain,
        ),
        *(
            [
                (
                    "CPU ms per job, draining: worker + PostgreSQL + RabbitMQ + Redis",
                    _cpu_parts(ours),
                    _cpu_parts(plain),
                    ratio(ours["cpu_ms_total"], plain["cpu_ms_total"]),
                )
            ]
            if "cpu_ms_total" in ours
            else []
        ),
        *(
            [
                (
                    f"enqueue → start p50 / p99, paced {num(ours['rate_per_s'])}/s",
                    f"{num(ours['latency_p50_ms'])} / {num(ours['latency_p99_ms'])} ms",
                    f"{num(plain['latency_p50_ms'])} / {num(plain['latency_p99_ms'])} ms",
                    "",
                )
            ]
            if "rate_per_s" in ours  # --paced-jobs 0: no paced phase
            else []
        ),
    ]
    off = result.get("switchboard, fair share off")
    if off is not None:  # the like-for-like job path (--compare-fair-share)
        rows += [
            (
                f"fair share off: {label}",
                num(off[key]),
                num(plain[key]),
                ratio(off[key], plain[key]),
            )
            for label, key in (
                ("jobs/s, worker start included", "jobs_per_s_with_start"),
                ("jobs/s, steady", "jobs_per_s_steady"),
                ("enqueue/s, batched", "enqueue_per_s"),
            )
        ]
    intro = (
        f"{result['jobs']:,} jobs, `--processes {result['processes']} "
        f"--threads {result['threads']}`:"
    )
    return [intro, "", *markdown_table(["", "Switchboard", "plain Dramatiq", "ratio"], rows)]


def whatsapp_table(result: dict[str, Any]) -> list[str]:
    """bench/whatsapp.py: paced latency, closed-loop throughput, replies (with the worker)."""
    ours, bare = result["switchboard_paced"], result["bare_paced"]
    paced = f"paced {num(result['rate'])}/s"
    rows: list[Row] = [
        (f"{paced}: latency {q}", f"{num(ours[key])} ms", f"{num(bare[key])} ms", "")
        for q, key in (("p50", "p50_ms"), ("p99", "p99_ms"), ("max", "max_ms"))
    ]
    bare_levels = {run["connections"]: run for run in result["bare_closed_loop"]}
    for run in result["switchboard_closed_loop"]:
        other = bare_levels.get(run["connections"], {}).get("throughput_per_s")
        rows.append(
            (
                f"closed loop, {run['connections']} connections",
                f"{num(run['throughput_per_s'])}/s (p99 {num(run['p99_ms'])} ms)",
                f"{num(other)}/s" if other is not None else "–",
                ratio(run["throughput_per_s"], other),
            )
        )
        busy, other_busy = (
            run.get("cores_busy"),
            bare_levels.get(run["connections"], {}).get("cores_busy"),
        )
        if busy is not None:  # all measured processes' CPU over the turn: 2.0 = both cores
            rows.append(
                (
                    f"  cores busy ({run['connections']} connections, load generator included)",
                    num(busy),
                    num(other_busy) if other_busy is not None else "–",
                    "",
                )
            )
    rows.append(
        ("throughput, each side's best level", "", "", f"{result['throughput_vs_ceiling']:.2f}")
    )
    per_round = result.get("throughput_vs_ceiling_per_round")
    if per_round:  # the closed loop in rounds, the servers' order alternating
        rounds = ", ".join(f"{value:.2f}" for value in per_round)
        rows.append((f"the same in each of {len(per_round)} rounds", "", "", rounds))
    replies = result.get("reply_enqueued")
    if replies:
        rows += [
            (
                f"replies enqueued per second (answered {replies['answered']})",
                num(replies["replies_per_s"]),
                "",
                "",
            ),
            (
                "inbound → reply enqueued p50 / p99",
                f"{num(replies['p50_ms'])} / {num(replies['p99_ms'])} ms",
                "",
                "",
            ),
            ("replies sent to the fake Twilio", f"{result.get('replies_sent', 0):,}", "", ""),
        ]
    worker = (
        f"the worker {result['worker_processes']} × {result['worker_threads']} threads"
        f" at niceness {result['worker_nice']}"
        if result.get("worker_processes")
        else "no worker (the API alone)"
    )
    seconds = num(result["seconds"])
    intro = f"`switchboard api` × {result['api_workers']}, {worker}, {seconds} s per phase:"
    return [intro, "", *markdown_table(["", "switchboard api", "bare FastAPI", "ratio"], rows)]


def _gateway_rows(ours: dict[str, Any], base: dict[str, Any]) -> list[Row]:
    def pair(run: dict[str, Any], *keys: str) -> str:
        if not run:
            return "–"
        return " / ".join(num(run.get(key)) for key in keys) + " ms"

    def frames(run: dict[str, Any]) -> str:
        if not run:
            return "–"
        return f"{run['frames_late']:,} / {run['frames_dropped']:,} of {run['frames_out']:,}"

    def one(run: dict[str, Any], key: str, unit: str) -> str:
        return f"{num(run[key])}{unit}" if run else "–"

    return [
        (
            "server TX jitter p50 / p99",
            pair(ours, "server_jitter_p50_ms", "server_jitter_p99_ms"),
            pair(base, "server_jitter_p50_ms", "server_jitter_p99_ms"),
            ratio(ours["server_jitter_p99_ms"], base.get("server_jitter_p99_ms")),
        ),
        (
            "client-side jitter p50 / p99 / max",
            pair(ours, "client_jitter_p50_ms", "client_jitter_p99_ms", "client_jitter_max_ms"),
            pair(base, "client_jitter_p50_ms", "client_jitter_p99_ms", "client_jitter_max_ms"),
            ratio(ours["client_jitter_p99_ms"], base.get("client_jitter_p99_ms")),
        ),
        ("frames late (> 20 ms) / dropped", frames(ours), frames(base), ""),
        (
            "CPU per call-second",
            one(ours, "cpu_ms_per_call_second", " ms"),
            one(base, "cpu_ms_per_call_second", " ms"),
            ratio(ours["cpu_ms_per_call_second"], base.get("cpu_ms_per_call_second")),
        ),
        (
            "RSS per call",
            one(ours, "rss_kb_per_call", " KB"),
            one(base, "rss_kb_per_call", " KB"),
            ratio(ours["rss_kb_per_call"], base.get("rss_kb_per_call")),
        ),
        ("threads", f"{ours['threads']:,}", f"{base['threads']:,}" if base else "–", ""),
        ("calls lost", str(ours["calls_lost"]), str(base["calls_lost"]) if base else "–", ""),
        (
            "other work on the host (CPU %, noise)",
            one(ours, "other_cpu_percent", " %"),
            one(base, "other_cpu_percent", " %"),
            "",
        ),
    ]


def _before_rows(ours: dict[str, Any], before: dict[str, Any]) -> list[Row]:
    def frames(run: dict[str, Any]) -> str:
        return f"{run['frames_late']:,} / {run['frames_dropped']:,} of {run['frames_out']:,}"

    def ms(run: dict[str, Any], key: str) -> str:
        return f"{num(run.get(key))} ms"

    return [
        (
            "CPU per call-second",
            ms(ours, "cpu_ms_per_call_second"),
            ms(before, "cpu_ms_per_call_second"),
            ratio(ours["cpu_ms_per_call_second"], before["cpu_ms_per_call_second"]),
        ),
        (
            "of which the kernel's",
            ms(ours, "cpu_system_ms_per_call_second"),
            ms(before, "cpu_system_ms_per_call_second"),
            "",
        ),
        (
            "server TX jitter p50 / p99",
            f"{num(ours['server_jitter_p50_ms'])} / {ms(ours, 'server_jitter_p99_ms')}",
            f"{num(before['server_jitter_p50_ms'])} / {ms(before, 'server_jitter_p99_ms')}",
            ratio(ours["server_jitter_p99_ms"], before["server_jitter_p99_ms"]),
        ),
        ("frames late (> 20 ms) / dropped", frames(ours), frames(before), ""),
        ("calls lost", str(ours["calls_lost"]), str(before["calls_lost"]), ""),
        (
            "other work on the host (CPU %, noise)",
            f"{num(ours['other_cpu_percent'])} %",
            f"{num(before['other_cpu_percent'])} %",
            "",
        ),
    ]


def gateway_table(result: dict[str, Any]) -> list[str]:
    """bench/gateway.py: jitter, late frames, CPU and memory per call, threads — per call count.

    With ``--compare-tree`` a second table per call count puts the gateway beside the
    compared tree's (the code before a change), measured in the same run; then the knee.
    """
    lines: list[str] = []
    runs: list[dict[str, Any]] = result["results"]
    for calls in dict.fromkeys(run["calls"] for run in runs):
        ours = next(r for r in runs if r["calls"] == calls and r["server"] == "gateway")
        no_baseline: dict[str, Any] = {}  # --no-baseline
        base = next(
            (r for r in runs if r["calls"] == calls and r["server"] == "baseline"), no_baseline
        )
        header = ["", "gateway (asyncio, one clock)", "thread-per-call baseline", "ratio"]
        lines += [f"{calls} concurrent calls for {num(ours['seconds'])} s:", ""]
        lines += [*markdown_table(header, _gateway_rows(ours, base)), ""]
        before = next((r for r in runs if r["calls"] == calls and r["server"] == "before"), None)
        if before is not None:
            header = ["", "gateway", f"gateway of `{result.get('compare_tree', '?')}`", "ratio"]
            lines += [f"The same {calls} calls against the compared tree, same run:", ""]
            lines += [*markdown_table(header, _before_rows(ours, before)), ""]
    if "knee" in result:
        knees = ", ".join(
            f"{server}: {calls if calls is not None else 'none up to ' + str(largest)}"
            for server, calls in result["knee"].items()
            for largest in [max(r["calls"] for r in runs if r["server"] == server)]
        )
        lines += [
            "Knee (fewest calls with p99 server jitter > 10 ms, a dropped frame or a lost"
            f" call): {knees}.",
            "",
        ]
    return lines[:-1]


#: bench/latency.py's figures, in the order the table shows them.
LATENCY_ROWS = (
    ("provider_to_twilio", "provider audio → Twilio frame p50 / p99"),
    ("caller_to_provider", "caller frame → provider append p50 / p99"),
    ("barge_in", "speech_started → clear p50 / p99"),
    ("greeting", "start → first greeting frame, beyond the provider's delay, p50 / p99"),
)


def cores(run: dict[str, Any]) -> str:
    """A latency run's CPU: the gateway's cores, then the fake provider's and the callers'
    (their processes'), "(saturated)" if either of those is near one core."""
    if "cpu" not in run:
        return "–"
    cpu = run["cpu"]
    flag = " (saturated)" if cpu["load_generator_saturated"] else ""
    used = (cpu["gateway_cores"], cpu["provider_cores"], cpu["callers_cores"])
    return " / ".join(num(cores) for cores in used) + flag


def loop_lag(run: dict[str, Any]) -> str:
    """A latency run's load processes' event loop lateness, p99: provider / callers."""
    if "load_loop_lag" not in run:
        return "–"
    lag = run["load_loop_lag"]
    return f"{num(lag['provider_p99_ms'])} / {num(lag['callers_p99_ms'])} ms"


def latency_table(result: dict[str, Any]) -> list[str]:
    """bench/latency.py: the gateway's own share of each latency, beside its pre-fix self."""
    lines: list[str] = []
    runs: list[dict[str, Any]] = result["results"]
    for calls in dict.fromkeys(run["calls"] for run in runs):
        ours = next(r for r in runs if r["calls"] == calls and r["server"] == "gateway")
        base = next((r for r in runs if r["calls"] == calls and r["server"] == "pre-fix"), {})

        def pair(run: dict[str, Any], key: str) -> str:
            if not run or not run[key]["n"]:
                return "–"
            return f"{num(run[key]['p50_ms'])} / {num(run[key]['p99_ms'])} ms"

        rows: list[Row] = [
            (
                label,
                pair(ours, key),
                pair(base, key),
                ratio(ours[key]["p99_ms"], base[key]["p99_ms"]) if base else "",
            )
            for key, label in LATENCY_ROWS
        ]
        missed = (ours["barge_in"]["missed"], base["barge_in"]["missed"] if base else "–")
        rows.append(("barge-ins without a clear", str(missed[0]), str(missed[1]), ""))
        if "cpu" in ours:  # a load process near one core: its lateness is in the figures
            label = "cores used: gateway / provider / callers"
            rows.append((label, cores(ours), cores(base), ""))
        if "load_loop_lag" in ours:  # the load processes' own lateness, also in the figures
            label = "load processes' loop lag p99: provider / callers"
            rows.append((label, loop_lag(ours), loop_lag(base), ""))
        header = ["", "gateway", "pre-fix switches (baseline)", "ratio of p99"]
        lines += [
            f"{calls} concurrent calls for {num(ours['seconds'])} s, provider delay "
            f"{ours['provider_delay_ms']} ms, provider connect {ours['connect_delay_ms']} ms:",
            "",
            *markdown_table(header, rows),
            "",
        ]
    return lines[:-1]


def number_lookup_table(result: dict[str, Any]) -> list[str]:
    """bench/number_lookup.py: median µs per message for each way, against the code's."""
    ways = result["ways"]
    code = ways[0]["median_us"]
    rows: list[Row] = [
        (
            way["name"],
            num(way["median_us"]),
            ", ".join(num(r) for r in way["rounds_us"]),
            ratio(way["median_us"], code),
        )
        for way in ways
    ]
    header = ["", "median µs per message", "rounds", "÷ the code"]
    return [
        "The webhook's store path, in-process on PostgreSQL:",
        "",
        *markdown_table(header, rows),
    ]


def whatsapp_path_table(result: dict[str, Any]) -> list[str]:
    """bench/whatsapp_path.py: the whole path beside its naive baseline (whatsapp_report.py)."""
    from bench.whatsapp_report import path_table  # it builds on this module's helpers

    return path_table(result)


def fairness_table(result: dict[str, Any]) -> list[str]:
    """bench/fairness.py: B's replies beside A's flood, fair share on and off."""
    from bench.fairness import table

    return table(result)


TABLES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "fairness": fairness_table,
    "jobs": jobs_table,
    "whatsapp": whatsapp_table,
    "whatsapp_path": whatsapp_path_table,
    "gateway": gateway_table,
    "number_lookup": number_lookup_table,
    "latency": latency_table,
}


def headline(kind: str, result: dict[str, Any]) -> str:
    """The one figure a reader of the summary looks for first."""
    if kind == "jobs":
        return (
            f"steady {result['ratio_jobs_per_s_steady']:.2f}, with the worker's start "
            f"{result['ratio_jobs_per_s_with_start']:.2f} × plain Dramatiq"
        )
    if kind == "fairness":
        from bench.fairness import headline as fairness_headline

        return fairness_headline(result)
    if kind == "whatsapp_path":
        from bench.whatsapp_report import path_headline

        return path_headline(result)
    if kind == "whatsapp":
        return (
            f"throughput {result['throughput_vs_ceiling']:.2f} × the bare endpoint; "
            f"paced p99 {num(result['switchboard_paced']['p99_ms'])} ms"
        )
    if kind == "gateway":
        ours = next(r for r in result["results"] if r["server"] == "gateway")
        base = next((r for r in result["results"] if r["server"] == "baseline"), None)
        cpu = ratio(ours["cpu_ms_per_call_second"], base and base["cpu_ms_per_call_second"])
        late = f"{ours['frames_late']:,} of {ours['frames_out']:,} frames late"
        before = next((r for r in result["results"] if r["server"] == "before"), None)
        if before is not None:
            late += (
                f"; CPU per call-second "
                f"{ratio(ours['cpu_ms_per_call_second'], before['cpu_ms_per_call_second'])}"
                " × the compared tree's"
            )
        return f"CPU per call-second {cpu} × the baseline; {late}" if cpu else late
    if kind == "latency":
        largest = max(run["calls"] for run in result["results"])
        ours = next(
            r for r in result["results"] if r["server"] == "gateway" and r["calls"] == largest
        )
        return f"at {largest} calls p99: " + ", ".join(
            f"{key.replace('_', ' ')} {num(ours[key]['p99_ms'])} ms"
            for key, _ in LATENCY_ROWS
            if ours[key]["n"]
        )
    ways = result["ways"]
    return f"{ways[1]['name']}: {ratio(ways[1]['median_us'], ways[0]['median_us'])} × the code"
