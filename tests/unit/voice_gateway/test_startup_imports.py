"""The voice gateway starts without the database's libraries: it never touches the database."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_gateway_and_its_command_load_without_sqlalchemy() -> None:
    # SQLAlchemy and the models are a fifth of a worker's start; the gateway answers calls
    # and publishes their events, and a new gateway process should take calls soonest.
    probe = (
        "import json, sys\n"
        "import switchboard.cli.main, switchboard.voice_gateway.server\n"
        "from switchboard.common.settings import get_settings\n"
        "from switchboard.voice_gateway.app import create_app\n"
        "create_app(get_settings())\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules} & "
        "{'sqlalchemy', 'psycopg', 'alembic'})))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )

    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
