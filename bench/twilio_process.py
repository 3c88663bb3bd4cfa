"""The fake Twilio REST API in a process of its own, so the load generator keeps its core.

Prints the server's URL on its first line, then serves until terminated.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.twilio_rest import FakeTwilioServer  # noqa: E402


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    server = FakeTwilioServer()
    server.start()
    print(server.url, flush=True)
    try:
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        server.stop()


if __name__ == "__main__":
    main()
