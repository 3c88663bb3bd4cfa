"""Ctrl-C in a command that left work done or going on at the API says what, in one line.

The command runs as a process of its own (SIGINT as a terminal sends it) against a stand-in
API that answers the first request and holds the next one, so the signal comes mid-command.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

RUN = {
    "id": 7,
    "name": "spring",
    "status": "running",
    "progress": 0.25,
    "completed": 1,
    "failed": 0,
    "in_progress": 1,
    "placed": 2,
    "total": 4,
}


class StandInApi(ThreadingHTTPServer):
    """Answers the first ``answers`` requests it is sent (1 unless a test says); holds every
    later one until ``release``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = 1
        self.answered = 0
        self.holding = threading.Event()
        self.release = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: StandInApi

    def _answer(self, body: object) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.server.answered >= self.server.answers:
            self.server.holding.set()
            self.server.release.wait(60)
            return
        self.server.answered += 1
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self._answer(RUN if "outbound-runs" in self.path else {"created": 200, "updated": 0})

    def do_GET(self) -> None:
        self._answer(RUN)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def api() -> Iterator[StandInApi]:
    server = StandInApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def _as_from_a_terminal() -> None:
    """In the command's process before it starts: SIGINT as a shell in a terminal leaves it
    (default, unblocked). The test run's own may differ: started in the background, or after a
    test that ran Dramatiq's worker in-process (it blocks and ignores SIGINT), it is inherited
    ignored or blocked, and the Ctrl-C would never arrive."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted(api: StandInApi, *args: str) -> tuple[int, str]:
    """Run ``switchboard ARGS`` against ``api``, Ctrl-C it once a request is held: its exit
    code and stderr on one line."""
    url = f"http://127.0.0.1:{api.server_address[1]}"
    command = [sys.executable, "-m", "switchboard.cli", *args, "--api-url", url]
    process = subprocess.Popen(
        [*command, "--api-key", "sbk_unused"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_as_from_a_terminal,
    )
    try:
        assert api.holding.wait(60), "the command never sent the request to hold"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert out == b""
    assert b"Traceback" not in err, err.decode()
    return process.returncode, " ".join(err.decode().split())


def test_an_import_interrupted_says_the_file_is_imported_whole_or_not_at_all(
    api: StandInApi, tmp_path: Path
) -> None:
    """The file goes in one request, which the API imports all or none: Ctrl-C while it is
    under way cannot say which, so it says both are whole and that a second import is safe."""
    path = tmp_path / "leads.csv"
    rows = "".join(f"+1555{n:07d},Lead {n}\n" for n in range(400))
    path.write_text("phone,name\n" + rows, encoding="utf-8")
    api.answers = 0  # the import's one request is held
    code, said = interrupted(api, "leads", "import", str(path))
    assert code == 130
    assert said.endswith(
        f"error: {path}: interrupted while its 400 rows were being imported: the API imports "
        "all of them or none; importing the file again is safe (it updates those imported)"
    )


def test_following_a_run_interrupted_says_the_run_goes_on(api: StandInApi) -> None:
    code, said = interrupted(api, "outbound", "start", "7", "--follow", "--interval", "0.1")
    assert code == 130
    assert said.endswith(
        "error: stopped following run 7, which goes on: switchboard outbound status 7 shows "
        "it, switchboard outbound cancel 7 stops it"
    )


def test_any_other_command_interrupted_exits_130_in_one_line(api: StandInApi) -> None:
    """Before, click's own "Aborted!" and exit 1, the code of a failed operation."""
    code, said = interrupted(api, "outbound", "status", "7")
    assert (code, said) == (130, "error: interrupted")
