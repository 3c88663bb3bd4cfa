"""A bench stopped with SIGTERM runs its ``finally`` blocks (what stops its servers)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

_BENCH = """
import sys, time
sys.path.insert(0, {root!r})
from bench.stopping import stop_cleanly_on_sigterm
stop_cleanly_on_sigterm()
try:
    print("ready", flush=True)
    time.sleep(60)
finally:
    open({out!r}, "w").write("stopped")
"""


def test_sigterm_unwinds_the_bench_through_its_finally_blocks(tmp_path: Path) -> None:
    out = tmp_path / "finally"
    bench = subprocess.Popen(
        [sys.executable, "-c", _BENCH.format(root=str(ROOT), out=str(out))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert bench.stdout is not None
        assert bench.stdout.readline().strip() == "ready"
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        bench.kill()
    assert out.read_text() == "stopped"
