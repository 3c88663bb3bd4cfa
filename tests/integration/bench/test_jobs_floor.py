"""bench/jobs.py for real with its ledger floor: plain Dramatiq whose worker writes each job's
outcome to PostgreSQL, drained beside Switchboard and plain Dramatiq, and the floor's ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
JOBS = 60


def test_the_ledger_floor_drains_beside_the_other_sides_writing_one_outcome_per_job() -> None:
    subprocess.run(
        [
            sys.executable,
            "bench/jobs.py",
            *("--jobs", str(JOBS), "--rounds", "1", "--paced-jobs", "0", "--compare-floor"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=240,
    )

    results = json.loads((ROOT / "bench" / "results" / "jobs.json").read_text())
    floor = results["ledger floor"]
    assert floor["outcomes_written"] == JOBS
    assert floor["jobs_per_s_steady"] > 0 and floor["worker_start_s"] > 0
    plain, ours = results["plain dramatiq"], results["switchboard"]
    ratios = results["floor_ratio"]
    assert ratios["jobs_per_s_steady floor / plain"] == pytest.approx(
        floor["jobs_per_s_steady"] / plain["jobs_per_s_steady"]
    )
    assert ratios["jobs_per_s_with_start switchboard / floor"] == pytest.approx(
        ours["jobs_per_s_with_start"] / floor["jobs_per_s_with_start"]
    )
