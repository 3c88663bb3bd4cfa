"""The worker's status server, a program started (and restarted) beside the worker processes,
loads none of what they run: its start would compete with theirs for the cores."""

from __future__ import annotations

import json
import subprocess
import sys

#: The worker processes' libraries: the ledger's database layers and the job path.
UNUSED = {"sqlalchemy", "psycopg", "alembic", "dramatiq.brokers.rabbitmq", "pika"}


def test_the_status_server_loads_no_database_or_job_library() -> None:
    probe = (
        "import json, sys\n"
        "import switchboard.worker.status_server\n"
        "print(json.dumps(sorted(set(sys.modules) & UNUSED)))\n"
    ).replace("UNUSED", repr(UNUSED))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
