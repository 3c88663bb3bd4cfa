"""``switchboard run`` with nothing configured: SQLite, in-process broker, every service."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from switchboard.cli.embedded import UNDER_MAKE_RUN
from switchboard.common.migrate import newest_script_revision
from tests.support import private_data
from tests.support.processes import ROOT, ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for


def test_run_comes_up_embedded_with_every_service_and_a_demo_key(tmp_path) -> None:
    ports = [free_port() for _ in range(3)]
    process = _run(tmp_path, ports, "run.log")
    try:
        key = _banner(process)["SWITCHBOARD_API_KEY"]
        api = f"http://127.0.0.1:{ports[0]}"
        wait_for(lambda: _ok(f"{api}/ready"), what="the API to be ready")
        for port in ports[1:]:
            wait_for(lambda p=port: _ok(f"http://127.0.0.1:{p}/health"), what=f"port {port}")
        me = httpx.get(f"{api}/api/v1/businesses/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200 and me.json()["phone_number"] == "+15550000000"
        assert (tmp_path / "var" / "switchboard.db").exists()
    finally:
        process.stop()
    assert "Traceback" not in process.output(), process.output()


def test_on_other_ports_a_simulated_call_goes_through_and_the_demo_key_stays(tmp_path) -> None:
    ports = [free_port() for _ in range(3)]
    process = _run(tmp_path, ports, "run.log")
    try:
        urls = _banner(process)
        # The gateway was told where the API is and what Twilio signs: the ports given.
        assert urls["API_BASE_URL"] == f"http://127.0.0.1:{ports[0]}"
        assert urls["PUBLIC_BASE_URL"] == f"http://127.0.0.1:{ports[1]}"
        assert f"Dashboard  http://127.0.0.1:{ports[0]}/dashboard" in process.output()
        wait_for(lambda: _ok(f"{urls['API_BASE_URL']}/ready"), what="the API to be ready")
        wait_for(lambda: _ok(f"{urls['PUBLIC_BASE_URL']}/ready"), what="the gateway to be ready")

        outcome = _simulate_call(urls["PUBLIC_BASE_URL"], tmp_path)
        assert outcome["status"] == "completed" and outcome["agent_said"], outcome
        calls = f"{urls['API_BASE_URL']}/api/v1/calls"
        auth = {"Authorization": f"Bearer {urls['SWITCHBOARD_API_KEY']}"}
        wait_for(
            lambda: any(
                call["call_sid"] == outcome["call_sid"] and call["status"] == "completed"
                for call in httpx.get(calls, headers=auth).json()["items"]
            ),
            timeout=60,
            what="the call's log, completed",
        )
    finally:
        process.stop()
    assert "Traceback" not in process.output(), process.output()

    kept = tmp_path / "var" / "demo-api-key"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    again = _run(tmp_path, ports, "run-again.log")
    try:
        assert _banner(again)["SWITCHBOARD_API_KEY"] == urls["SWITCHBOARD_API_KEY"]
    finally:
        again.stop()


def test_a_port_in_use_is_named_in_one_line_before_anything_starts(tmp_path) -> None:
    ports = [free_port() for _ in range(3)]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports[1]))
        taken.listen()
        process = _run(tmp_path, ports, "run.log")
        code = process.proc.wait(60)
    output = process.output().strip()
    assert code == 2, output
    # The suggestion keeps the ports given: naming only the busy one would send the others
    # back to their defaults.
    args = f"--api-port {ports[0]} --gateway-port {ports[1] + 100} --scheduler-port {ports[2]}"
    assert output == (
        f"error: port {ports[1]} (--gateway-port) is in use; choose another, "
        f"e.g. switchboard run {args}"
    )
    assert not (tmp_path / "var").exists()


def test_under_make_run_a_port_in_use_suggests_make_run_with_its_args(tmp_path) -> None:
    """Before, ``make run ARGS="…"`` was suggested whoever ran it; now only to one who ran
    ``make run`` (its target sets ``SWITCHBOARD_MAKE_RUN``), the real Makefile here."""
    ports = [free_port() for _ in range(3)]
    args = f"--api-port {ports[0]} --gateway-port {ports[1]} --scheduler-port {ports[2]}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports[1]))
        taken.listen()
        done = subprocess.run(
            ["make", "-s", "-C", str(ROOT), "run", f"ARGS={args}"],
            env=_run_env(tmp_path, "WARNING"),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    moved = args.replace(f"--gateway-port {ports[1]}", f"--gateway-port {ports[1] + 100}")
    assert done.returncode == 2, done.stderr  # make's own, for the run's 2
    assert done.stderr.splitlines()[0] == (
        f"error: port {ports[1]} (--gateway-port) is in use; choose another, "
        f'e.g. make run ARGS="{moved}"'
    )
    assert not (tmp_path / "var").exists()


def test_a_second_run_on_the_same_ports_names_them_all_and_asks_if_one_runs(tmp_path) -> None:
    ports = [free_port() for _ in range(3)]
    with contextlib.ExitStack() as held:
        for port in ports:
            taken = held.enter_context(socket.socket())
            taken.bind(("127.0.0.1", port))
            taken.listen()
        process = _run(tmp_path, ports, "run.log")
        code = process.proc.wait(60)
    output = process.output().strip()
    assert code == 2, output
    moved = [port + 100 for port in ports]
    assert output == (
        f"error: ports {ports[0]} (--api-port), {ports[1]} (--gateway-port) and {ports[2]} "
        "(--scheduler-port) are in use (is Switchboard running already?); choose others, "
        f"e.g. switchboard run --api-port {moved[0]} --gateway-port {moved[1]} "
        f"--scheduler-port {moved[2]}"
    )


@pytest.mark.parametrize("same_ports", [False, True], ids=["other ports", "the same ports"])
def test_a_second_run_over_the_same_var_is_refused_naming_the_first(
    tmp_path, same_ports: bool
) -> None:
    """Before, a second ``make run`` on other ports in the same checkout came up on the first
    one's SQLite file: it requeued the first one's live jobs to its own in-process broker (each
    then ran in both) and its scheduler led too. On the first one's ports it was told only that
    they were in use ("is Switchboard running already?"), not by which run."""
    first_ports = [free_port() for _ in range(3)]
    first = _run(tmp_path, first_ports, "run.log")
    second = None
    try:
        urls = _banner(first)
        second_ports = first_ports if same_ports else [free_port() for _ in range(3)]
        second = _run(tmp_path, second_ports, "run-second.log")
        wait_for(
            lambda: second.proc.poll() is not None or "Switchboard is up" in second.output(),
            timeout=90,
            what="the second run to end or come up",
        )
        output = second.output().strip()
        assert "Switchboard is up" not in output, output
        assert second.proc.wait(30) == 2, output
        var = tmp_path / "var"
        assert output == (
            f"error: another switchboard run (pid {first.proc.pid}, API {urls['API_BASE_URL']}, "
            f"gateway {urls['PUBLIC_BASE_URL']}) is using {var}/ (its SQLite database is one "
            "run's: a second would run its jobs again); stop it first, or give this one another "
            "VAR_DIR (a database of its own)"
        )
        assert _ok(f"{urls['API_BASE_URL']}/ready")
    finally:
        if second is not None:
            second.stop()
        first.stop()
    # The lock goes with the run that held it: the next one starts, though the file still
    # names the first.
    assert str(first.proc.pid) in (tmp_path / "var" / "run.lock").read_text()
    again = _run(tmp_path, first_ports, "run-again.log")
    try:
        _banner(again)
        written = json.loads((tmp_path / "var" / "run.lock").read_text())
        assert written == {
            "pid": again.proc.pid,
            "api": urls["API_BASE_URL"],
            "gateway": urls["PUBLIC_BASE_URL"],
        }
    finally:
        again.stop()


def test_ctrl_c_stops_every_service_cleanly(tmp_path) -> None:
    ports = [free_port() for _ in range(3)]
    process = _run(tmp_path, ports, "run.log", log_level="INFO")
    try:
        _banner(process)
        # The banner comes once every port listens, the worker started.
        for port in ports:
            assert _ok(f"http://127.0.0.1:{port}/health"), port
        assert "run.worker_started" in process.output()
        process.proc.send_signal(signal.SIGINT)
        code = process.proc.wait(30)
    finally:
        process.stop()
    _assert_stopped_cleanly(process, code, ports)


def test_ctrl_c_through_make_run_s_uv_exits_0_with_every_service_stopped(tmp_path) -> None:
    """``make run`` runs ``uv run switchboard run``; Ctrl-C (or ``kill -INT`` on the group)
    reaches uv and us at once, and uv, with no terminal to tell it we had it, passes it on to
    us again 200 ms later: the copy must not turn a clean stop into "interrupted", exit 130
    (make's "Error 130")."""
    ports = [free_port() for _ in range(3)]
    uv = shutil.which("uv")
    uv_command = [uv] if uv else ["python3", "-m", "uv"]  # as the Makefile finds it
    launcher = [*uv_command, "run", "--no-sync", "switchboard"]
    process = _run(tmp_path, ports, "run.log", launcher=launcher)
    try:
        _banner(process)
        os.killpg(process.proc.pid, signal.SIGINT)
        code = process.proc.wait(30)
    finally:
        process.stop()
    _assert_stopped_cleanly(process, code, ports)


def test_a_stop_signal_repeated_until_the_end_still_exits_0(tmp_path) -> None:
    """SIGINT, then again and again while the services stop and the process ends (uv's copy
    can land at any of those moments): the stop stays clean, exit 0, nothing left running."""
    ports = [free_port() for _ in range(3)]
    process = _run(tmp_path, ports, "run.log")
    try:
        _banner(process)
        code = None
        while code is None:  # bounded by the stop's own time: `wait` below paces the repeats
            process.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = process.proc.wait(0.02)
    finally:
        process.stop()
    _assert_stopped_cleanly(process, code, ports)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_stop_signal_while_it_migrates_stops_it_cleanly_after_the_migration(
    tmp_path, signum: signal.Signals
) -> None:
    """Ctrl-C or ``kill`` during the first start's migrations. Before, the stop signals were
    taken only after them: SIGTERM ended the process at once (exit 143, no "Switchboard
    stopped"), SIGINT cancelled the services as they started (three tracebacks, exit 130)."""
    var = tmp_path / "var"
    var.mkdir()
    # The migration waits for this write lock (SQLite's busy timeout, 30 s): the signal lands
    # while it migrates, whatever the machine's speed.
    holder = sqlite3.connect(var / "switchboard.db", isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    ports = [free_port() for _ in range(3)]
    process = _run(tmp_path, ports, "run.log", log_level="INFO")
    try:
        try:
            wait_for(lambda: "migrations.applying" in process.output(), what="the migration")
            process.proc.send_signal(signum)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        code = process.proc.wait(60)
    finally:
        process.stop()
    _assert_stopped_cleanly(process, code, ports)
    assert "Switchboard is up" not in process.output()
    # Nothing started after the migration: no worker to requeue jobs and run some as it stops.
    assert "run.worker_started" not in process.output()
    with sqlite3.connect(var / "switchboard.db") as database:
        (revision,) = database.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == newest_script_revision()


def test_run_in_the_worker_role_exits_with_the_worker_s_code(tmp_path) -> None:
    """``SERVICE_ROLE=worker switchboard run`` is ``switchboard worker``: a worker refusing
    to start (its status port taken) exits 2 there, and did exit 0 here."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = service_env(
            database_url="",
            amqp_url="",
            var_dir=str(tmp_path / "var"),
            service_role="worker",
            worker_metrics_port=str(port),
        )
        process = ServiceProcess(["run"], env, tmp_path / "run.log")
        code = process.proc.wait(60)
    assert code == 2, process.output()
    assert f"cannot serve /health and /metrics on port {port}" in process.output()


def _assert_stopped_cleanly(process: ServiceProcess, code: int | None, ports: list[int]) -> None:
    """Exit 0, saying it stopped, with no interruption or traceback said, no process left in
    the run's group, and no port of it listening."""
    output = process.output()
    assert code == 0, output
    assert "Switchboard stopped" in output.splitlines(), output
    for said in ("interrupted", "Traceback", "CancelledError", "KeyboardInterrupt"):
        assert said not in output, output
    with pytest.raises(ProcessLookupError):
        os.killpg(process.proc.pid, 0)
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listens"


def _run(
    tmp_path: Path,
    ports: list[int],
    log: str,
    launcher: list[str] | None = None,
    log_level: str = "WARNING",
) -> ServiceProcess:
    args = ["--api-port", str(ports[0]), "--gateway-port", str(ports[1])]
    args += ["--scheduler-port", str(ports[2])]
    return ServiceProcess(["run", *args], _run_env(tmp_path, log_level), tmp_path / log, launcher)


def _run_env(tmp_path: Path, log_level: str) -> dict[str, str]:
    """The environment of a run with nothing configured, its data under ``tmp_path``, not
    under ``make run`` (unless its Makefile says so)."""
    env = service_env(
        database_url="", amqp_url="", var_dir=str(tmp_path / "var"), log_level=log_level
    )
    for name in ("PUBLIC_BASE_URL", "API_BASE_URL", "API_PUBLIC_BASE_URL", UNDER_MAKE_RUN):
        env.pop(name, None)
    return env


def _banner(process: ServiceProcess) -> dict[str, str]:
    """The variables of the banner's ``export`` line, printed whole on one line."""
    match = wait_for(
        lambda: re.search(r"^ +export (API_BASE_URL=.*)$", process.output(), re.MULTILINE),
        timeout=90,
        what="the banner",
    )
    return dict(part.split("=", 1) for part in match.group(1).split())


def _simulate_call(gateway_url: str, tmp_path: Path) -> dict[str, object]:
    caller, said = "+15559870042", "Hi, this is Robin Park, I would like to book a visit."
    private_data.register(caller, said, "Robin Park")
    # The environment's PUBLIC_BASE_URL is another URL: the call is signed for the one targeted.
    env = service_env(
        var_dir=str(tmp_path / "var"), public_base_url="http://localhost:8001", log_level="INFO"
    )
    result = subprocess.run(
        [sys.executable, "-m", "switchboard.cli", "simulate-call", "--to", "+15550000000"]
        + ["--from", caller, "--gateway-url", gateway_url, "--say", said, "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HTTP Request:" not in result.stderr, result.stderr
    outcome: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    private_data.register(*outcome["agent_said"])  # type: ignore[misc]
    return outcome


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
