"""A worker process starts without importing what only some jobs need."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_worker_loads_its_actors_without_the_openai_library() -> None:
    # openai takes about a second to import; without OPENAI_API_KEY no job needs it.
    probe = (
        "import json, sys\n"
        "import switchboard.worker.app\n"
        "print(json.dumps({'actors': len(switchboard.worker.app.broker.actors),"
        " 'openai': 'openai' in sys.modules}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": ""}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )

    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["actors"] > 20
    assert loaded["openai"] is False
