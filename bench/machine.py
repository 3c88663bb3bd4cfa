"""What a benchmark report says about the machine it ran on.

Every figure depends on the machine and on what else ran there, so the report names the CPU,
memory, load, the versions of Python and of the servers the benchmarks talk to, and the commit
(with whether the tree had uncommitted changes). A server that cannot be reached is reported
as such; it does not stop the run (the benchmark that needs it will fail and say why).
"""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The same defaults as tests/support/services.py, which the benchmarks use.
DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _proc_field(path: str, name: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        return None
    return None


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo, else what ``platform`` knows)."""
    return _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"


def memory() -> str:
    """Total memory in GiB (Linux's /proc/meminfo)."""
    total = _proc_field("/proc/meminfo", "MemTotal")
    if total is None:
        return "unknown"
    return f"{int(total.split()[0]) / 2**20:.1f} GiB"


def load_average() -> str:
    """The 1, 5 and 15-minute load averages: other work on the host skews every figure."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _unavailable(error: Exception) -> str:
    return f"unavailable ({type(error).__name__})"


def postgresql_version() -> str:
    """The PostgreSQL server's version, as ``SHOW server_version`` gives it."""
    import psycopg

    try:
        with psycopg.connect(DATABASE_URL, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as error:
        return _unavailable(error)
    return str(row[0]) if row else "unknown"


def rabbitmq_version() -> str:
    """The RabbitMQ server's version, from the properties it sends when a connection opens."""
    import aiormq

    async def ask() -> str:
        connection = await aiormq.connect(AMQP_URL)
        try:
            version = connection.server_properties.get("version", b"unknown")
        finally:
            await connection.close()
        return version.decode() if isinstance(version, bytes) else str(version)

    try:
        return asyncio.run(asyncio.wait_for(ask(), 10))
    except (OSError, TimeoutError, aiormq.exceptions.AMQPError) as error:
        return _unavailable(error)


def redis_version() -> str:
    """The Redis server's version (bench/jobs.py counts finished jobs in Redis)."""
    import redis

    try:
        info = redis.Redis.from_url(REDIS_URL, socket_timeout=5).info("server")
    except redis.RedisError as error:
        return _unavailable(error)
    return str(info.get("redis_version", "unknown"))


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def describe_machine() -> dict[str, Any]:
    """The machine, its servers and the code, as the report's "Machine" table shows them."""
    status = _git("status", "--porcelain")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory": memory(),
        "load_average": load_average(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgresql_version(),
        "rabbitmq": rabbitmq_version(),
        "redis": redis_version(),
        "git_commit": _git("rev-parse", "HEAD") or "unknown",
        # Untracked files count too: a new module changes what runs.
        "git_dirty": bool(status) if status is not None else None,
    }
