"""A scenario's PostgreSQL database and RabbitMQ vhost, the services on them as processes,
and the test's own reads of what happened (each on a connection of its own, so a PostgreSQL
restart costs the test nothing)."""

from __future__ import annotations

import collections
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from switchboard.scheduler.registry import DOMAIN_SCHEDULES
from tests.support import services
from tests.support.processes import ServiceProcess, free_port, service_env

FULL = os.environ.get("CHAOS") == "full"

#: The settings every process of a scenario runs with (over ``TEST_ENV``): the poison cap as
#: in production, retries and the relay a little faster; a killed worker's jobs are taken over
#: after the production delay (30 s without a heartbeat) in the full forms, 5 s in the short.
CHAOS_ENV = {
    "JOB_MIN_BACKOFF_MS": "200",
    "JOB_MAX_BACKOFF_MS": "2000",
    "JOB_MAX_UNFINISHED_DELIVERIES": "3",
    "OUTBOX_RELAY_INTERVAL_S": "0.5",
    "OUTBOX_RELAY_MIN_AGE_S": "1",
    "WORKER_HEARTBEAT_INTERVAL_S": "5" if FULL else "1",
    "WORKER_STALE_AFTER_S": "30" if FULL else "5",
}
LIVE = ("queued", "running")
#: What the scheduler emits on its own (warm-ups when it becomes leader, periodic scans): not
#: the scenario's work, and on a queue a scenario's worker may not consume.
SCHEDULED_ACTORS = sorted({schedule.job.name for schedule in DOMAIN_SCHEDULES})


def scale(short: Any, full: Any) -> Any:
    """The full figure under ``CHAOS=full`` (``make chaos``), else the short one."""
    return full if FULL else short


class Stack:
    """One scenario's database, vhost and processes; ``env`` goes to every process."""

    def __init__(self, database_url: str, amqp_url: str, log_dir: Path) -> None:
        self.database_url = database_url
        self.amqp_url = amqp_url
        self.log_dir = log_dir
        self.env: dict[str, str] = {}
        self.started: list[ServiceProcess] = []
        self.supervisors: list[Supervised] = []
        self._unready: list[tuple[str, ServiceProcess]] = []

    # --- processes ------------------------------------------------------------------------

    def start(self, *args: str, **env: str) -> ServiceProcess:
        merged = service_env(
            database_url=self.database_url,
            amqp_url=self.amqp_url,
            **CHAOS_ENV,
            **self.env,
            **env,
        )
        log = self.log_dir / f"{len(self.started):02d}-{args[0]}.log"
        process = ServiceProcess(list(args), merged, log)
        self.started.append(process)
        return process

    def api(
        self, port: int | None = None, *, wait: bool = True, **env: str
    ) -> tuple[ServiceProcess, str]:
        """``switchboard api`` on ``port`` (a free one by default) and its URL; ready unless
        ``wait=False`` (then :meth:`ready` waits)."""
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        process = self.start(
            "api", "--host", "127.0.0.1", "--port", str(port), api_base_url=url, **env
        )
        self._unready.append((url, process))
        if wait:
            self.ready()
        return process, url

    def worker(
        self, *queues: str, processes: int = 1, threads: int = 8, **env: str
    ) -> ServiceProcess:
        """``switchboard worker`` with the chaos actors, on ``queues`` (all when none)."""
        queue_args = [arg for queue in queues for arg in ("--queue", queue)]
        return self.start(
            "worker",
            "tests.chaos.actors",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            *queue_args,
            **env,
        )

    def supervised_worker(self, *queues: str, **options: Any) -> Supervised:
        """A worker started again whenever it exits (see :class:`Supervised`)."""
        supervised = Supervised(lambda: self.worker(*queues, **options))
        self.supervisors.append(supervised)
        return supervised

    def scheduler(self, *, wait: bool = True, **env: str) -> tuple[ServiceProcess, str]:
        """``switchboard scheduler`` and the URL of its ``/health`` and ``/metrics``; ready
        unless ``wait=False``."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = self.start("scheduler", "--host", "127.0.0.1", "--port", str(port), **env)
        self._unready.append((url, process))
        if wait:
            self.ready()
        return process, url

    def ready(self) -> None:
        """Wait until every service started with ``wait=False`` answers ``/ready``."""
        while self._unready:
            wait_ready(*self._unready.pop())

    def stop_all(self) -> str:
        """Stop every process; the tail of each log, for a failed test's output."""
        for supervised in self.supervisors:
            supervised.stop()
        stopping = [
            threading.Thread(target=lambda p=process: p.stop(timeout=0.5))
            for process in self.started
        ]
        for thread in stopping:  # all at once, and not for long: the scenario is over
            thread.start()
        for thread in stopping:
            thread.join()
        return "\n".join(
            f"--- {process.log_path.name} ---\n{process.output()[-3000:]}"
            for process in self.started
        )

    # --- reads ----------------------------------------------------------------------------

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """``sql`` on a new autocommit connection to the scenario's database."""
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def jobs_by_status(self, business_id: int) -> collections.Counter[str]:
        """The business's jobs by status, the scheduler's own left out."""
        rows = self.query(
            "SELECT status, count(*) FROM jobs WHERE business_id = %s"
            " AND NOT (actor_name = ANY(%s)) GROUP BY status",
            (business_id, SCHEDULED_ACTORS),
        )
        return collections.Counter({status: int(count) for status, count in rows})

    def outbox_rows(self, business_id: int) -> int:
        [(count,)] = self.query(
            "SELECT count(*) FROM outbox WHERE business_id = %s", (business_id,)
        )
        return int(count)

    def parked_jobs(self, business_id: int) -> int:
        """The business's jobs parked in the ledger (fair share): owed, with no outbox row."""
        [(count,)] = self.query(
            "SELECT count(*) FROM jobs WHERE business_id = %s AND parked_at IS NOT NULL",
            (business_id,),
        )
        return int(count)

    def settled(self, business_id: int) -> bool:
        """No job of the business is queued or running and its outbox is empty."""
        by_status = self.jobs_by_status(business_id)
        return not any(by_status[status] for status in LIVE) and not self.outbox_rows(business_id)

    def wait_settled(self, business_id: int, *, timeout: float, quiet_s: float = 1.5) -> None:
        """Until the business's jobs have been settled for ``quiet_s`` (late duplicates show)."""
        deadline = time.monotonic() + timeout
        since: float | None = None
        while time.monotonic() < deadline:
            if self.settled(business_id):
                since = since or time.monotonic()
                if time.monotonic() - since >= quiet_s:
                    return
            else:
                since = None
            time.sleep(0.2)
        raise AssertionError(
            f"jobs not settled after {timeout} s: {dict(self.jobs_by_status(business_id))}, "
            f"{self.outbox_rows(business_id)} outbox rows; unsettled: {self.unsettled(business_id)}"
        )

    def unsettled(self, business_id: int) -> list[tuple[object, ...]]:
        """The business's jobs still queued or running, for a failure's message: actor, status,
        attempts, deliveries, failures, worker, parked, and the slot (its worker; None for a
        reservation), with their ages in seconds."""
        return [
            tuple(row)
            for row in self.query(
                "SELECT j.actor_name, j.status, j.attempts, j.deliveries, j.failures,"
                " j.worker_id, j.parked_at IS NOT NULL, s.job_id IS NOT NULL, s.worker_id,"
                " round(extract(epoch FROM now() - s.taken_at)),"
                " round(extract(epoch FROM now() - j.started_at)),"
                " (SELECT round(extract(epoch FROM now() - h.beat_at)) FROM worker_heartbeats h"
                "  WHERE h.id = j.worker_id)"
                " FROM jobs j LEFT JOIN job_slots s ON s.job_id = j.id"
                " WHERE j.business_id = %s AND j.status IN ('queued', 'running') LIMIT 20",
                (business_id,),
            )
        ]


class Supervised:
    """A service kept running as a process manager keeps it: started again (after a short
    pause) whenever it exits. ``kill()`` SIGKILLs it; ``exits`` counts the other exits."""

    RESTART_DELAY_S = 0.3

    def __init__(self, start: Callable[[], ServiceProcess]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self.current = start()
        self.kills = 0
        self.exits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                dead = None if self.current.alive else self.current
            if dead is None:
                continue
            time.sleep(self.RESTART_DELAY_S)
            with self._lock:  # unless kill() has started another meanwhile
                if self.current is dead and not self._stop.is_set():
                    self.exits += 1
                    self.current = self._start()

    def kill(self) -> None:
        """SIGKILL the running process (and its children) and start it again at once."""
        with self._lock:
            self.current.kill()
            self.kills += 1
            self.current = self._start()

    def stop(self) -> None:
        """Stop watching (the stack stops the processes)."""
        self._stop.set()
        self._thread.join()


def wait_ready(url: str, process: ServiceProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive:
            raise AssertionError(f"{url} exited:\n{process.output()[-3000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout} s")


def process_tree(process: ServiceProcess) -> list[psutil.Process]:
    """The service's main process and every process it started."""
    main = psutil.Process(process.proc.pid)
    return [main, *main.children(recursive=True)]


# --- PostgreSQL and RabbitMQ ----------------------------------------------------------------


def _pg_cluster() -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def postgres_stop() -> None:
    """Stop the local PostgreSQL cluster (fast shutdown: sessions are disconnected)."""
    subprocess.run([*_pg_cluster(), "stop", "-m", "fast"], check=True, capture_output=True)


def postgres_start(timeout: float = 60) -> None:
    """Start it again and wait until it accepts connections."""
    subprocess.run([*_pg_cluster(), "start"], check=False, capture_output=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False)
        if done.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("PostgreSQL did not come back")


@contextmanager
def postgres_away() -> Iterator[None]:
    """PostgreSQL stopped for the block; started again whatever happens."""
    try:
        postgres_stop()
        yield
    finally:
        postgres_start()


@contextmanager
def rabbitmq_away() -> Iterator[None]:
    """RabbitMQ's application stopped for the block; started again whatever happens."""
    try:
        services.rabbit_stop()
        yield
    finally:
        services.rabbit_start()
