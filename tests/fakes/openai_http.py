"""A fake OpenAI HTTP API that the real ``openai`` library can talk to.

``POST /v1/chat/completions`` answers deterministically: scripted replies first, else a reply
quoting the last user message; with a ``json_schema`` response format it answers JSON that
satisfies the schema, filled by simple rules from the prompt (an e-mail, "my name is …", enum
values whose stem occurs in the text), its ``reply`` property (the agent's answer with the
lead's fields) the reply it would give without the schema. ``POST /v1/audio/transcriptions``
takes the multipart upload and answers ``{"text": …}``: the scripted ``transcripts`` first, one a
request, else ``transcript``. Every request is recorded.

Use the ``fake_openai`` fixture; point ``OpenAI(base_url=f"{fake_openai.url}/v1")`` at it.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer, HeldAnswers, json_response

API_KEY = "sk-fake-openai-key-0000"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NAME = re.compile(
    r"(?:my name is|i'm|i am|this is)\s+([A-Z][a-z]+(?: [A-Z][a-z]+)?)", re.IGNORECASE
)


def openai_error(status: int, message: str, error_type: str, code: str | None = None) -> Response:
    """An error body shaped like OpenAI's."""
    error = {"message": message, "type": error_type, "param": None, "code": code}
    return json_response({"error": error}, status=status)


def fill_schema(schema: dict[str, Any], text: str, defs: dict[str, Any], key: str = "") -> Any:
    """A value satisfying ``schema``, taken from ``text`` where a simple rule finds one."""
    if "$ref" in schema:
        return fill_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], text, defs, key)
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        value = fill_schema(options[0], text, defs, key)
        nullable = len(options) < len(schema["anyOf"])
        return None if nullable and value in ("", None) else value
    if "enum" in schema:
        lowered = text.lower()
        found = [value for value in schema["enum"] if str(value)[:4].lower() in lowered]
        return found[0] if found else schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: fill_schema(sub, text, defs, name) for name, sub in properties.items()}
    if kind == "string":
        if "email" in key.lower():
            match = _EMAIL.search(text)
            return match.group(0) if match else ""
        if "name" in key.lower():
            match = _NAME.search(text)
            return match.group(1) if match else ""
        return ""
    return {"integer": 0, "number": 0.0, "boolean": False, "array": []}.get(str(kind))


@dataclass
class Transcription:
    filename: str
    model: str
    size: int


class FakeOpenAIServer(HeldAnswers, FakeServer):
    """The fake API; tests read ``chat_requests`` and ``transcriptions``."""

    rules = (
        Rule("/v1/chat/completions", methods=["POST"], endpoint="chat"),
        Rule("/v1/audio/transcriptions", methods=["POST"], endpoint="transcribe"),
    )

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.replies: list[str] = []
        self.transcript = "Hello, I would like to book an appointment."
        #: Answers to the next transcriptions, one each, in order (then ``transcript``).
        self.transcripts: list[str] = []
        #: OpenAI's limit on an uploaded audio file (tests lower it rather than upload 25 MB).
        self.max_upload_bytes = 25 * 1024 * 1024
        self.chat_requests: list[dict[str, Any]] = []
        self.transcriptions: list[Transcription] = []
        self._failures: dict[str, list[int | None]] = {}
        self._ids = itertools.count(1)

    def fail_next(
        self, endpoint: str, count: int = 1, status: int = 500, *, after: int = 0
    ) -> None:
        """Answer the next ``count`` requests to ``endpoint`` ("chat", "transcribe") with errors,
        once ``after`` more have been answered as usual (a provider failing mid-way)."""
        with self.recording():
            self._failures.setdefault(endpoint, []).extend([None] * after + [status] * count)

    def _refusal(self, request: Request, endpoint: str) -> Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return openai_error(
                401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"
            )
        with self.recording():
            pending = self._failures.get(endpoint)
            status = pending.pop(0) if pending else None
        if status == 429:
            return openai_error(429, "Rate limit reached", "requests", "rate_limit_exceeded")
        if status is not None:
            return openai_error(status, "Injected failure", "server_error")
        return None

    def handle_chat(self, request: Request) -> Response:
        refusal = self._refusal(request, "chat")
        if refusal is not None:
            return refusal
        body = request.get_json()
        with self.recording():
            self.chat_requests.append(body)
        # Only what the user said: the instructions would match every rule.
        text = "\n".join(str(m.get("content", "")) for m in body["messages"] if m["role"] == "user")
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            schema = response_format["json_schema"]["schema"]
            value = fill_schema(schema, text, schema.get("$defs", {}))
            if isinstance(value, dict) and "reply" in value:  # a reply with the lead's fields
                value["reply"] = self._reply(body)
            content = json.dumps(value)
        else:
            content = self._reply(body)
        return json_response(self._completion(body["model"], content))

    def _reply(self, body: dict[str, Any]) -> str:
        """The next scripted reply, else one quoting the customer's last message."""
        with self.recording():
            if self.replies:
                return self.replies.pop(0)
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        return f"Thanks for your message: {users[-1] if users else ''}"[:400]

    def _completion(self, model: str, content: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    def handle_transcribe(self, request: Request) -> Response:
        refusal = self._refusal(request, "transcribe")
        if refusal is not None:
            return refusal
        upload = request.files.get("file")
        model = request.form.get("model", "")
        if upload is None or not model:
            return openai_error(400, "file and model are required", "invalid_request_error")
        data = upload.read()
        if len(data) > self.max_upload_bytes:  # what OpenAI answers a file over its limit
            return openai_error(
                413,
                f"Maximum content size limit ({self.max_upload_bytes}) exceeded",
                "server_error",
            )
        with self.recording():
            self.transcriptions.append(Transcription(upload.filename or "", model, len(data)))
            text = self.transcripts.pop(0) if self.transcripts else self.transcript
        self._wait_if_held()  # as the provider listening to a long file before it answers
        return json_response({"text": text})


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A running fake OpenAI API accepting ``API_KEY``."""
    server = FakeOpenAIServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
