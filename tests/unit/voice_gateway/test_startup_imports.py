"""The voice gateway starts without the libraries it does not use: the database's (it never
touches it), and an AI provider's or Google Speech's unless configured."""

from __future__ import annotations

import json
import subprocess
import sys

#: What the offline gateway in the sandbox never uses: the database's libraries, the OpenAI and
#: Gemini clients, Google Speech (gRPC) and aiohttp (Twilio's async client, for recordings).
UNUSED = {
    *("sqlalchemy", "psycopg", "alembic", "openai", "google.genai"),
    *("grpc", "google.cloud.speech_v1", "aiohttp"),
}


def test_the_offline_gateway_loads_no_database_ai_or_speech_library() -> None:
    # SQLAlchemy and the models are a fifth of a worker's start; the gateway answers calls
    # and publishes their events, and a new gateway process should take calls soonest.
    probe = (
        "import json, sys\n"
        "import switchboard.cli.main, switchboard.voice_gateway.server\n"
        "from switchboard.common.settings import get_settings\n"
        "from switchboard.voice_gateway.app import create_app\n"
        "create_app(get_settings())\n"
        "print(json.dumps(sorted(set(sys.modules) & UNUSED)))\n"
    ).replace("UNUSED", repr(UNUSED))
    # The offline agent and the sandbox: no AI key, no Google Speech, no Twilio credentials.
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )

    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
