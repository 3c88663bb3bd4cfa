"""`make bench`'s runner for real, at toy sizes: one cheap benchmark, then two that fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def run_all(out_dir: Path, *args: str, **env: str) -> tuple[int, str, dict[str, Any]]:
    """Run bench/run_all.py as `make bench` does; (exit code, Markdown report, JSON twin)."""
    done = subprocess.run(
        [sys.executable, "bench/run_all.py", "--smoke", "--out-dir", str(out_dir), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    [markdown] = out_dir.glob("report-*.md")
    return (
        done.returncode,
        markdown.read_text(),
        json.loads(markdown.with_suffix(".json").read_text()),
    )


def test_one_benchmark_runs_and_its_figures_land_in_one_report(
    admin_database_url: str, tmp_path: Path
) -> None:
    exit_code, report, twin = run_all(
        tmp_path, "--only", "number_lookup", TEST_DATABASE_URL=admin_database_url
    )

    assert exit_code == 0
    assert "(smoke sizes)" in report and "all 1 ran." in report
    assert "| read every time |" in report
    assert twin["all_ran"] is True
    assert twin["machine"]["postgresql"][0].isdigit()
    [number_lookup] = twin["benchmarks"]
    assert [way["name"] for way in number_lookup["result"]["ways"]] == [
        "remembered, checked (the code)",
        "read every time",
        "remembered, unchecked (before)",
    ]
    assert Path(number_lookup["logs"][0]).exists()


def test_failing_benchmarks_are_reported_with_their_output_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    nowhere = "postgresql://postgres@127.0.0.1:1/postgres"  # nothing listens on port 1

    exit_code, report, twin = run_all(
        tmp_path, "--only", "number_lookup", "jobs", TEST_DATABASE_URL=nowhere, CI=""
    )

    assert exit_code == 1
    assert [(b["name"], b["status"]) for b in twin["benchmarks"]] == [
        ("jobs", "failed"),
        ("number_lookup", "failed"),
    ]
    assert "0 of 2 ran, 2 failed." in report
    assert "PostgreSQL is not reachable at postgresql://postgres@127.0.0.1:1/postgres" in report
    assert twin["machine"]["postgresql"].startswith("unavailable")
