"""``switchboard api --workers 2``: each spawned server process configures its own logging."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.support.processes import free_port
from tests.support.waiting import wait_for


def _answered(url: str, request_id: str) -> bool:
    try:
        response = httpx.get(url, headers={"X-Request-ID": request_id}, timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 401


def test_every_server_process_writes_json_lines(start_service) -> None:
    port = free_port()
    api = start_service(
        "api", "--port", str(port), "--workers", "2", log_json="true", log_level="INFO"
    )
    request_id = f"probe-{uuid.uuid4().hex}"
    url = f"http://127.0.0.1:{port}/api/v1/leads"  # no key: 401, one access line
    wait_for(lambda: _answered(url, request_id), timeout=60, what="the API's server processes")
    wait_for(lambda: request_id in api.output(), timeout=10, what="the access line")

    lines = [line for line in api.output().splitlines() if line.strip()]
    [access] = [json.loads(line) for line in lines if request_id in line]
    assert access["event"] == "http.request" and access["status"] == 401
    not_json = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            not_json.append(line)
    assert not_json == []
