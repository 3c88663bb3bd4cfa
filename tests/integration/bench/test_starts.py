"""bench/starts.py for real, one round: every service started, timed beside the bare app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_each_service_is_timed_from_spawn_to_its_first_200(tmp_path: Path) -> None:
    out = tmp_path / "starts.json"
    subprocess.run(
        [sys.executable, "bench/starts.py", "--rounds", "1", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=180,
    )

    figures = json.loads(out.read_text())
    assert figures["rounds"] == 1
    assert figures["bare FastAPI"]["vs_bare"] == 1.0
    for name in ("gateway", "api"):
        assert 0 < figures[name]["median_s"] < 60
        assert (
            figures[name]["vs_bare"]
            == figures[name]["median_s"] / figures["bare FastAPI"]["median_s"]
        )
