"""Actors used only by the job-system tests; the worker subprocess imports this module."""

from __future__ import annotations

import gc
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from switchboard.common.db import tenant_session
from switchboard.common.jobs import (
    PermanentJobError,
    current_job,
    raise_if_cancelled,
    report_progress,
)
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import ActorSpec
from switchboard.domain.leads.store import upsert_lead

RECORD_LEAD = ActorSpec("test_record_lead_job", "test_jobs", timeout_s=30, max_retries=3)
SLEEPY = ActorSpec("test_sleepy_job", "test_jobs", timeout_s=1, max_retries=1)
KILL_ONCE = ActorSpec("test_kill_once_job", "test_jobs", timeout_s=120, max_retries=3)
SUICIDE = ActorSpec("test_suicide_job", "test_poison", timeout_s=30, max_retries=3)
TENANT_PROBE = ActorSpec("test_tenant_probe_job", "test_jobs", timeout_s=30, max_retries=3)
PROGRESS = ActorSpec("test_progress_job", "test_jobs", timeout_s=60, max_retries=0)
NOOP = ActorSpec("test_noop_job", "test_jobs", timeout_s=30, max_retries=0)
COUNT_RUNS = ActorSpec("test_count_runs_job", "test_jobs", timeout_s=30, max_retries=3)
# Worker crashes: a poison job with a cap of its own and bystanders behind it on one queue; a
# long job whose first run holds its worker.
POISON_CAPPED = ActorSpec(
    "test_poison_capped_job", "test_crash", timeout_s=30, max_retries=3, max_unfinished=3
)
BYSTANDER = ActorSpec("test_bystander_job", "test_crash", timeout_s=30, max_retries=3)
HOLD_FIRST = ActorSpec("test_hold_first_run_job", "test_hold", timeout_s=120, max_retries=3)
GATED = ActorSpec("test_gated_job", "test_jobs", timeout_s=120, max_retries=3)
HEAP_PROBE = ActorSpec("test_heap_probe_job", "test_jobs", timeout_s=30, max_retries=0)


def record_lead(*, business_id: int, phone: str) -> None:
    with tenant_session(business_id) as session:
        upsert_lead(session, business_id, phone, source="test")


def sleepy(*, business_id: int, seconds: float) -> None:
    # Short sleeps so Dramatiq's time limit can interrupt between them.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)


def kill_once(*, business_id: int, phone: str, marker: str) -> None:
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        time.sleep(120)  # the test SIGKILLs the worker while we wait here
        raise AssertionError("the worker should have been killed")
    record_lead(business_id=business_id, phone=phone)


def suicide(*, business_id: int) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def tenant_probe(*, business_id: int, lead_id: int) -> None:
    # A raw query with no business filter: only row-level security stands in the way.
    with tenant_session(business_id) as session:
        row = session.execute(text("SELECT id FROM leads WHERE id = :id"), {"id": lead_id}).first()
    if row is None:
        raise PermanentJobError(f"lead {lead_id} does not belong to business {business_id}")


def progress(*, business_id: int, steps: int, marker: str) -> None:
    for step in range(1, steps + 1):
        report_progress(step / steps, f"step {step} of {steps}")
        tmp = Path(marker + ".tmp")
        tmp.write_text(str(step))
        tmp.replace(marker)  # atomic, so the test never reads a half-written file
        time.sleep(0.05)


def noop(*, business_id: int) -> None:
    return None


def count_runs(*, business_id: int, marker: str) -> None:
    job = current_job()
    with Path(marker).open("a") as runs:  # one short append per run: atomic enough
        runs.write(f"{job.job_id if job else '-'}\n")


def gated(*, business_id: int, log: str, then: str = "checkpoint") -> None:
    """Log ``started``, wait for the file ``<log>.gate``, then pass a checkpoint and log
    ``passed`` (``then="checkpoint"``) or fail as a retry would be due (``then="fail"``)."""
    with Path(log).open("a") as out:
        out.write("started\n")
    gate = Path(log + ".gate")
    while not gate.exists():
        time.sleep(0.02)
    if then == "fail":
        raise RuntimeError("failed after the gate")
    raise_if_cancelled()
    with Path(log).open("a") as out:
        out.write("passed\n")


def hold_first_run(*, business_id: int, marker: str) -> None:
    """Append this process's pid to ``marker``; the first run then holds its worker."""
    with Path(marker).open("a") as runs:
        runs.write(f"{os.getpid()}\n")
    if len(Path(marker).read_text().split()) == 1:
        time.sleep(100)  # the test SIGKILLs the worker while we wait here


def heap_probe(*, business_id: int, marker: str) -> None:
    """Write, as JSON, whether the collector is on in this worker process and how many
    objects its start left frozen (``startup_heap``)."""
    tmp = Path(marker + ".tmp")
    tmp.write_text(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
    tmp.replace(marker)


def register() -> dict[str, Any]:
    """Declare every test actor on the current broker."""
    pairs = [
        (RECORD_LEAD, record_lead),
        (SLEEPY, sleepy),
        (KILL_ONCE, kill_once),
        (SUICIDE, suicide),
        (TENANT_PROBE, tenant_probe),
        (PROGRESS, progress),
        (NOOP, noop),
        (COUNT_RUNS, count_runs),
        (POISON_CAPPED, suicide),
        (BYSTANDER, count_runs),
        (HOLD_FIRST, hold_first_run),
        (GATED, gated),
        (HEAP_PROBE, heap_probe),
    ]
    return {spec.name: job_actor(spec)(fn) for spec, fn in pairs}


ACTORS = register()
