"""CPU per answered WhatsApp message: this tree against another one, in interleaved turns.

This host's speed drifts by tens of percent within minutes, so two trees measured one after
the other differ by the drift as much as by their code. Here both run at once, each its own
``switchboard api`` and ``switchboard worker`` (1 × 8 threads, each tree's own code and
virtualenv), its own database, RabbitMQ vhost and fake Twilio; the paced webhooks go to one
tree, then to the other, in short turns (``--turns`` each, the order alternating), and each
tree's CPU is read during its own turns only: its API, its worker, its database's PostgreSQL
backends and RabbitMQ (shared, and barely touched by the idle tree: heartbeats). A turn ends
when every reply has reached the tree's fake Twilio and its job ledger has nothing queued or
running. Each tree is set up by its own code (migrations, a business with its prompts built,
``bench/whatsapp_path.py``'s ``new_business``), warmed up, and its tables analyzed first.

Reports, per tree, CPU in ms per answered message by part and in total (API, worker,
PostgreSQL's backends and server, RabbitMQ), summed over its turns; ``ratio`` is this tree's
total over the other's, with each pair of turns' own ratio and their median.

    uv run python bench/whatsapp_vs_tree.py --rev 485a940    # a worktree in ~/.cache, kept
    uv run python bench/whatsapp_vs_tree.py --tree ../other --turns 8 --messages 150
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stopping import stop_cleanly_on_sigterm, stop_processes  # noqa: E402
from bench.whatsapp import wait_http  # noqa: E402
from bench.whatsapp_cpu import CpuMeter, per_message_ms, servers, tree  # noqa: E402
from bench.whatsapp_path import service_env  # noqa: E402
from bench.whatsapp_phase import phase, signed_messages, wait_until  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

#: The parts counted as the tree's: the same as ``bench/whatsapp_path.py``'s total.
PARTS = ("api", "worker", "postgres", "postgres_server", "rabbitmq")

# Run by each tree's own interpreter in its own directory: migrations and the business, by
# its own code (the two trees' schemas differ). Prints the business's [id, number].
_SETUP = """
import json, sys
sys.path.insert(0, ".")
from tests.support.environment import configured
with configured(database_url=sys.argv[1], amqp_url=sys.argv[2], log_level="WARNING"):
    from switchboard.common.migrate import worker_startup_migrations
    worker_startup_migrations()
    from bench.whatsapp_path import new_business
    print(json.dumps(new_business("Bench", 32)))
"""
_LIVE_JOBS = "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"


@dataclass
class Side:
    """One tree's running setup and the CPU its turns cost."""

    name: str
    root: Path
    admin_url: str
    database_url: str = ""
    amqp_url: str = ""
    vhost: str = ""
    url: str = ""
    number: str = ""
    twilio_url: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def python(self) -> str:
        return str(self.root / ".venv" / "bin" / "python")

    def start(
        self, mode: str, openai_url: str, processes: int, threads: int, extra: dict[str, str]
    ) -> None:
        self.database_url = services.create_database(self.admin_url)
        self.amqp_url, self.vhost = services.create_vhost(services.broker_url())
        twilio = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "whatsapp_fakes.py"), "twilio"],
            stdout=subprocess.PIPE,
        )
        self.procs.append(twilio)
        assert twilio.stdout is not None
        self.twilio_url = twilio.stdout.readline().decode().strip()
        setup = subprocess.run(
            [self.python, "-c", _SETUP, self.database_url, self.amqp_url],
            cwd=self.root,
            env={**os.environ, "PYTHONPATH": str(self.root)},
            capture_output=True,
            check=True,
        )
        _, self.number = json.loads(setup.stdout.decode().strip().splitlines()[-1])
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **service_env(
                database_url=self.database_url,
                amqp_url=self.amqp_url,
                base_url=self.url,
                twilio_url=self.twilio_url,
                openai_url=openai_url,
                mode=mode,
                root=self.root,
                threads=processes * threads,
            ),
            **extra,
        }
        cli = [self.python, "-m", "switchboard.cli"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": self.root}
        api = [*cli, "api", "--host", "127.0.0.1", "--port", str(port)]
        worker = [*cli, "worker", "--processes", str(processes), "--threads", str(threads)]
        worker += ["--metrics-port", str(free_port())]
        for part, command in (("api", api), ("worker", worker)):
            process = subprocess.Popen(command, env=env, **quiet)  # type: ignore[call-overload]
            self.procs.append(process)
            self.pids[part] = process.pid
        wait_http(f"{self.url}/health")

    def meter(self) -> CpuMeter:
        return CpuMeter(
            {
                "api": tree(self.pids["api"]),
                "worker": tree(self.pids["worker"]),
                **servers(self.database_url.rsplit("/", 1)[1]),
                "load_generator": lambda: [psutil.Process()],
            }
        )

    def drained(self) -> None:
        def idle() -> bool:
            with psycopg.connect(self.database_url.replace("+psycopg", "")) as conn:
                row = conn.execute(_LIVE_JOBS).fetchone()
            return row is not None and int(row[0]) == 0

        wait_until(idle, 120, f"{self.name}'s job ledger to drain")

    def turn(self, messages: int, rate: float, counted: bool = True) -> dict[str, Any]:
        figures = phase(
            self.url,
            signed_messages(self.url, self.number, messages),
            rate,
            self.meter(),
            PARTS,
            self.twilio_url,
            self.drained,
        )
        if counted:
            self.turns.append(figures)
        return figures

    def analyze(self) -> None:
        with psycopg.connect(self.database_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("ANALYZE")

    def close(self) -> None:
        stop_processes(self.procs)
        if self.database_url:
            services.drop_database(self.admin_url, self.database_url)
        if self.vhost:
            services.delete_vhost(self.vhost)


def combine(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """One tree's turns summed: answered messages, CPU ms per message by part and ``total``."""
    answered = sum(int(turn["answered"]) for turn in turns)
    seconds: dict[str, float] = {}
    for turn in turns:
        for part, cpu in turn["cpu_s"].items():
            seconds[part] = seconds.get(part, 0.0) + float(cpu)
    return {
        "turns": len(turns),
        "answered": answered,
        "latency_p99_ms_worst_turn": max(turn["latency_p99_ms"] for turn in turns),
        "cpu_ms_per_message": per_message_ms(seconds, answered, PARTS),
    }


def compare(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> dict[str, Any]:
    """Both trees' figures; ``ratio`` is ours over theirs, overall and per pair of turns."""
    mine, other = combine(ours), combine(theirs)
    pairs = [
        combine([a])["cpu_ms_per_message"]["total"] / combine([b])["cpu_ms_per_message"]["total"]
        for a, b in zip(ours, theirs, strict=True)
    ]
    total = mine["cpu_ms_per_message"]["total"] / other["cpu_ms_per_message"]["total"]
    return {
        "this_tree": mine,
        "other_tree": other,
        "ratio": round(total, 3),
        "ratio_per_turn_pair": [round(r, 3) for r in pairs],
        "ratio_median_of_pairs": round(statistics.median(pairs), 3),
    }


#: Where ``--rev`` worktrees are kept between runs (their virtualenvs take a minute to make):
#: outside this tree, so the other tree's code is never read as this project's (linters,
#: searches, the checks that walk the project).
TREES = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "switchboard-bench-trees"


def worktree(rev: str) -> Path:
    """A worktree of ``rev`` under :data:`TREES` with its virtualenv (made if missing)."""
    path = TREES / rev
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-f", str(path), rev], cwd=ROOT, check=True
        )
    if not (path / ".venv" / "bin" / "python").exists():
        subprocess.run(["make", "install"], cwd=path, check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tree", type=Path, help="the other tree (its .venv installed)")
    where.add_argument("--rev", help="the other tree's commit: a worktree is made for it")
    parser.add_argument("--turns", type=int, default=6, help="turns per tree")
    parser.add_argument("--messages", type=int, default=150, help="webhooks per turn")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="webhooks/s (0: each turn sent at once, a burst)"
    )
    parser.add_argument("--warmup", type=int, default=30, help="answered first, not counted")
    parser.add_argument("--mode", choices=["offline", "openai"], default="offline")
    parser.add_argument("--openai-delay-ms", type=float, default=300.0)
    parser.add_argument("--worker-processes", type=int, default=1)
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for this tree's processes only (JOB_FAIR_SHARE=false: fair share's cost)",
    )
    parser.add_argument("--out", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)

    other = args.tree.resolve() if args.tree else worktree(args.rev)
    admin_url = services.admin_database_url()
    sides = [Side("this tree", ROOT, admin_url), Side(f"other tree ({other})", other, admin_url)]
    openai = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "whatsapp_fakes.py"), "openai"]
        + ["--delay-ms", str(args.openai_delay_ms)],
        stdout=subprocess.PIPE,
    )
    try:
        assert openai.stdout is not None
        openai_url = openai.stdout.readline().decode().strip()
        for side in sides:
            print(f"starting {side.name} …", flush=True)
            own = extra if side.root == ROOT else {}
            side.start(args.mode, openai_url, args.worker_processes, args.worker_threads, own)
        for side in sides:
            side.turn(args.warmup, args.rate, counted=False)
            side.analyze()
        for turn in range(args.turns):
            for side in sides if turn % 2 == 0 else sides[::-1]:
                figures = side.turn(args.messages, args.rate)
                total = figures["cpu_ms_per_message"].get("total")
                print(f"turn {turn + 1}: {side.name}: {total} ms CPU per message", flush=True)
        results = {
            "other_tree_path": str(other),
            "rev": args.rev,
            **{k: v for k, v in vars(args).items() if k not in ("tree", "rev", "out", "env")},
            "this_tree_env": extra,
            "machine_cpus": os.cpu_count(),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **compare(sides[0].turns, sides[1].turns),
        }
    finally:
        for side in sides:
            side.close()
        openai.terminate()
        openai.wait(30)
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    stop_cleanly_on_sigterm()
    main()
