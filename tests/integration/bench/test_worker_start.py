"""bench/worker_start.py for real, one round: the worker's start phase by phase, plain
Dramatiq's imports and the stack's floor beside it, and each side's imports by package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
PHASES = ["interpreter", "cli", "runner", "migration check", "actors", "total"]


def test_each_phase_of_the_worker_s_start_is_timed_beside_plain_dramatiq_and_the_floor(
    tmp_path: Path,
) -> None:
    out = tmp_path / "worker_start.json"
    subprocess.run(
        [sys.executable, "bench/worker_start.py", "--rounds", "1", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=180,
    )

    figures = json.loads(out.read_text())
    ours, plain = figures["medians"]["switchboard"], figures["medians"]["plain dramatiq"]
    assert list(ours) == PHASES
    assert all(seconds > 0 for seconds in ours.values())
    assert ours["total"] == pytest.approx(sum(ours[name] for name in PHASES[:-1]))
    assert list(plain) == ["interpreter", "imports", "total"]
    # The packages each side imports: ours load SQLAlchemy and the models, plain Dramatiq not.
    assert {"sqlalchemy", "switchboard.common.models", "dramatiq"} <= set(
        figures["packages"]["switchboard"]
    )
    assert "sqlalchemy" not in figures["packages"]["plain dramatiq"]
    # The floor: plain Dramatiq's imports, then the stack's libraries and nothing of ours.
    floor = figures["medians"]["stack floor"]
    assert list(floor) == ["interpreter", "dramatiq", "stack libraries", "total"]
    assert {"sqlalchemy", "psycopg", "pydantic_settings", "dramatiq"} <= set(
        figures["packages"]["stack floor"]
    )
    assert not any(name.startswith("switchboard") for name in figures["packages"]["stack floor"])
    assert figures["ratios"]["switchboard / stack floor"] == pytest.approx(
        ours["total"] / floor["total"]
    )
