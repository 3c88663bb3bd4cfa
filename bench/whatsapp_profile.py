"""Where the worker's CPU goes, for ``bench/whatsapp_path.py --profile``.

Given to ``switchboard worker`` as an extra module (its positional ``modules``), this module
adds a Dramatiq middleware to the worker's broker when ``BENCH_WORKER_PROFILE_DIR`` is set.
In each worker process, before Dramatiq starts its threads, the middleware has every new
thread (consumers, worker threads, pika's) start a ``cProfile`` profiler timed by that
thread's own CPU clock (``time.thread_time_ns``: waiting on a socket or a lock costs
nothing, as in the CPU counters). When the worker stops, it writes the merged profile to
``<dir>/worker-<pid>.prof``. The product never imports it.

:func:`by_area` groups a profile's own time (``tottime``: each function's time without its
callees, so the areas add up to the whole) by where the code lives; a C builtin's or an
unclassified stdlib function's own time goes to the area of its caller.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

DIR_ENV = "BENCH_WORKER_PROFILE_DIR"

#: (area, path fragments), first match wins: more specific fragments come first.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("imports (start-up)", ("<frozen importlib", "marshal.loads", "_imp.")),
    ("agent (text rules, OpenAI client)", ("integrations/ai_text", "text_rules", "openai")),
    ("Twilio client (twilio, requests, urllib3)", ("twilio", "requests/", "urllib3/")),
    ("logging (structlog, logging)", ("structlog", "/logging/", "common/logging")),
    ("JSON (json, orjson)", ("/json/", "orjson")),
    ("job ledger, enqueue (switchboard.common.jobs)", ("common/jobs",)),
    ("SQL (SQLAlchemy, psycopg)", ("sqlalchemy", "psycopg")),
    ("Dramatiq, pika (AMQP)", ("dramatiq", "pika")),
    ("domain reply / send logic (switchboard.domain)", ("switchboard/domain",)),
    ("worker actors, adapters (switchboard.worker)", ("switchboard/worker",)),
    ("other Switchboard code (switchboard.common)", ("switchboard/common",)),
    ("HTTP clients (httpx, httpcore, http.client)", ("httpx", "httpcore", "http/client")),
    ("threads, queues, locks (stdlib)", ("threading.py", "queue.py", "_thread.lock")),
    ("pydantic", ("pydantic",)),
)
OTHER = "other (stdlib, C builtins) called from elsewhere"


def area_of(path: str, name: str = "") -> str:
    """The area of the code in ``path``; a C builtin's (path ``~``) by its ``name``
    (``<method 'execute' of 'psycopg…' objects>``)."""
    where = name if path == "~" else path
    for area, fragments in AREAS:
        if any(fragment in where for fragment in fragments):
            return area
    return OTHER


class ThreadProfiler(Middleware):
    """Profiles every thread the worker process starts; writes the profile when it stops."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.profilers: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_in_this_thread(self, *_: Any) -> None:
        profiler = cProfile.Profile(time.thread_time_ns, 1e-9)
        with self._lock:
            self.profilers.append(profiler)
        profiler.enable()  # replaces this hook for the rest of the thread's life

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        threading.setprofile(self._start_in_this_thread)

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        threading.setprofile(None)
        with self._lock:
            profilers = list(self.profilers)
        stats: pstats.Stats | None = None
        for profiler in profilers:
            profiler.create_stats()
            if stats is None:
                stats = pstats.Stats(profiler)
            else:
                stats.add(profiler)
        if stats is not None:
            stats.dump_stats(self.directory / f"worker-{os.getpid()}.prof")


def by_area(profile_files: list[Path], messages: int, keep: Path | None = None) -> dict[str, Any]:
    """CPU ms per message by area (own time) and the top functions by cumulative time;
    ``keep``: also write the merged profile there (``python -m pstats`` reads it)."""
    stats = pstats.Stats(*(str(path) for path in profile_files))
    if keep is not None:
        stats.dump_stats(keep)
    table: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    areas: dict[str, float] = {}
    for (path, _, name), (_, _, own, _, callers) in table.items():
        area = area_of(path, name)
        if area != OTHER or not callers:
            areas[area] = areas.get(area, 0.0) + own
            continue
        # A builtin or a stdlib helper (isinstance, re, copy …) is charged to the area of
        # the code that called it: each call edge carries the callee's own time through it.
        for (caller_path, _, caller_name), edge in callers.items():
            charged = area_of(caller_path, caller_name)
            areas[charged] = areas.get(charged, 0.0) + edge[2]
    total = sum(areas.values())
    ordered = sorted(areas.items(), key=lambda item: -item[1])
    top = sorted(table.items(), key=lambda item: -item[1][3])[:25]
    return {
        "messages": messages,
        "profiled_cpu_ms_per_message": round(total * 1000 / messages, 3) if messages else None,
        "areas": [
            {
                "area": area,
                "ms_per_message": round(seconds * 1000 / messages, 3) if messages else None,
                "share": round(seconds / total, 3) if total else None,
            }
            for area, seconds in ordered
        ],
        "top_cumulative": [
            {
                "function": f"{_short(path)}:{line}({name})",
                "calls": calls,
                "cumulative_ms_per_message": round(cumulative * 1000 / messages, 3)
                if messages
                else None,
            }
            for (path, line, name), (_, calls, _, cumulative, _) in top
        ],
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


_directory = os.environ.get(DIR_ENV)
if _directory:
    dramatiq.get_broker().add_middleware(ThreadProfiler(Path(_directory)))
