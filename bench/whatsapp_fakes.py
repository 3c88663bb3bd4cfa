"""The outside world of the WhatsApp benchmarks, each in a process of its own.

``twilio``: the fake Twilio REST API, which also notes when each reply arrived (wall clock, by
its ``To``) and tells the bench at ``GET /bench/received``: the count alone (cheap, polled),
or with ``?times=1`` every arrival. ``openai --delay-ms N``: the fake OpenAI API answering
each chat completion after a fixed delay, as a model's latency would.

Each prints its URL on its first line, then serves until terminated. Not our CPU: the bench
reports theirs apart from Switchboard's. They are served by uvicorn, whose connections stay
open between requests as Twilio's and OpenAI's do: werkzeug's server (the tests') closes each
connection after one answer, so every reply sent would also pay a TCP connect the real
services spare us.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

import uvicorn
from uvicorn.middleware.wsgi import WSGIMiddleware  # type: ignore[attr-defined]  # re-exported
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.openai_http import FakeOpenAIServer  # noqa: E402
from tests.fakes.server import FakeServer, json_response  # noqa: E402
from tests.fakes.twilio_rest import FakeTwilioServer  # noqa: E402

OPENAI_KEY = "sk-bench-openai-key"


class CountingTwilio(FakeTwilioServer):
    """The fake Twilio, noting each accepted message's arrival time by recipient."""

    rules = (  # type: ignore[assignment]  # the base declares exactly its own rules
        *FakeTwilioServer.rules,
        Rule("/bench/received", methods=["GET"], endpoint="received"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, float] = {}

    def handle_create_message(self, request: Request, account: str) -> Response:
        response = super().handle_create_message(request, account)
        if response.status_code == 201:
            arrived = time.time()
            with self.recording():
                self.arrivals[request.form.get("To", "")] = arrived
        return response

    def handle_received(self, request: Request) -> Response:
        with self.recording():
            body: dict[str, object] = {"count": len(self.messages)}
            if request.args.get("times"):
                body["arrivals"] = dict(self.arrivals)
        return json_response(body)


class SlowOpenAI(FakeOpenAIServer):
    """The fake OpenAI API, answering each chat completion after ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(api_key=OPENAI_KEY)
        self.delay_s = delay_s

    def handle_chat(self, request: Request) -> Response:
        time.sleep(self.delay_s)  # the model's latency: the caller waits, no CPU is spent
        response = super().handle_chat(request)
        with self.recording():
            self.chat_requests.clear()  # not kept: a long run would hold every prompt
        return response


#: Requests a fake serves at once: the WSGI app runs in threads (the fake OpenAI sleeps in
#: one for its delay), more than the bench's worker threads ever send together.
THREADS = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("fake", choices=["twilio", "openai"])
    parser.add_argument("--delay-ms", type=float, default=300.0)
    args = parser.parse_args()
    server: FakeServer = (
        CountingTwilio() if args.fake == "twilio" else SlowOpenAI(args.delay_ms / 1000)
    )
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1024)  # connections wait in the backlog until uvicorn accepts them
    print(f"http://127.0.0.1:{listening.getsockname()[1]}", flush=True)
    app = WSGIMiddleware(server.wsgi, workers=THREADS)
    # No access line per request; SIGTERM and Ctrl-C stop it (uvicorn's own handlers).
    config = uvicorn.Config(app, interface="asgi3", log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[listening])


if __name__ == "__main__":
    main()
