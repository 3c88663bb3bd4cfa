"""CPU seconds spent by each part of the WhatsApp path, from the processes' own counters.

A :class:`CpuMeter` is given, per part, a function that finds that part's processes (a
process and all its descendants; PostgreSQL's backends for the bench's database by their
process title; the server's own processes; RabbitMQ's ``beam.smp``). :meth:`CpuMeter.start`
reads their user + system CPU time, :meth:`CpuMeter.stop` reads it again, and the difference
per part is what the phase cost. A process that starts during the phase counts from zero;
one that ends during it is lost (the bench's processes and pooled connections live through
it). Only user + system of each process itself: ``children_*`` would count the dead twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psutil

Finder = Callable[[], Iterable[psutil.Process]]
#: psutil's identity of a process: pid reuse cannot merge two processes.
_Key = tuple[int, float]


def _cpu(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
        return float(times.user + times.system)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _key(process: psutil.Process) -> _Key | None:
    try:
        return process.pid, process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def tree(pid: int) -> Finder:
    """The process ``pid`` and all its descendants (the worker's forks, uvicorn's workers)."""

    def find() -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    return find


def alone(pid: int) -> Finder:
    """The process ``pid`` only, not its children (the bench's own process: the load
    generator, whose children are the servers it measures)."""

    def find() -> list[psutil.Process]:
        try:
            return [psutil.Process(pid)]
        except psutil.NoSuchProcess:
            return []

    return find


def by_name(name: str, title_has: str = "") -> Finder:
    """Every process named ``name`` whose command line contains ``title_has``."""

    def find() -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["name", "cmdline"]):
            if process.info["name"] != name:
                continue
            if title_has and title_has not in " ".join(process.info["cmdline"] or ()):
                continue
            found.append(process)
        return found

    return find


def postgres_backends(database: str) -> Finder:
    """PostgreSQL's backends serving ``database`` (``postgres: 15/main: user db host …``)."""
    return by_name("postgres", f" {database} ")


def postgres_server() -> Finder:
    """PostgreSQL's own processes (postmaster, WAL writer, checkpointer, autovacuum …): shared
    with every database on the server, so they also carry other clients' work."""
    backends = by_name("postgres")

    def find() -> list[psutil.Process]:
        return [
            process
            for process in backends()
            if "127.0.0.1(" not in " ".join(process.info["cmdline"] or ())
            and "[local]" not in " ".join(process.info["cmdline"] or ())
        ]

    return find


def servers(database: str) -> dict[str, Finder]:
    """The shared servers' parts: ``database``'s PostgreSQL backends, PostgreSQL's own
    processes and RabbitMQ's ``beam.smp`` (the whole broker)."""
    return {
        "postgres": postgres_backends(database),
        "postgres_server": postgres_server(),
        "rabbitmq": by_name("beam.smp"),
    }


@dataclass
class CpuMeter:
    """CPU seconds per part between :meth:`start` and :meth:`stop`."""

    parts: dict[str, Finder]
    _started: dict[str, dict[_Key, float]] = field(default_factory=dict)

    def _read(self) -> dict[str, dict[_Key, float]]:
        readings: dict[str, dict[_Key, float]] = {}
        for part, find in self.parts.items():
            readings[part] = {}
            for process in find():
                key, cpu = _key(process), _cpu(process)
                if key is not None and cpu is not None:
                    readings[part][key] = cpu
        return readings

    def start(self) -> None:
        """Read every part's counters now."""
        self._started = self._read()

    def stop(self) -> dict[str, float]:
        """CPU seconds each part spent since :meth:`start`."""
        ended = self._read()
        return {
            part: sum(cpu - self._started.get(part, {}).get(key, 0.0) for key, cpu in now.items())
            for part, now in ended.items()
        }


def per_message_ms(
    seconds: dict[str, float], messages: int, ours: Iterable[str]
) -> dict[str, float]:
    """Milliseconds of CPU per message for each part, and ``total`` over the parts in ``ours``."""
    if not messages:
        return {}
    out = {part: round(cpu * 1000 / messages, 3) for part, cpu in seconds.items()}
    out["total"] = round(sum(out[part] for part in ours if part in out), 3)
    return out
