"""The dashboard's progress bar follows a real outbound run, end to end.

API, gateway, worker and scheduler run as processes on PostgreSQL and RabbitMQ; a fake Twilio
places the calls and sends signed status callbacks to the gateway, whose call events move the
run's items through the API's consumer and the worker. Chromium watches the bar.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from switchboard.common.db import tenant_session
from switchboard.domain.leads.store import upsert_lead
from tests.e2e.dashboard.conftest import CHROMIUM_ARGS, _chromium_or_skip
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.support import private_data
from tests.support.factories import make_business
from tests.support.processes import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    server = FakeTwilioServer(send_callbacks=True, call_duration_s=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_bar_advances_while_the_worker_runs_the_run_and_disappears_when_it_ends(
    pg_rabbit, start_service, twilio
) -> None:
    executable = _chromium_or_skip()
    api_port, gateway_port = free_port(), free_port()
    env = {
        "api_base_url": f"http://127.0.0.1:{api_port}",
        "public_base_url": f"http://127.0.0.1:{gateway_port}",
        "twilio_api_base_url": twilio.url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
    }
    start_service("api", "--port", str(api_port), **env)
    start_service("gateway", "--port", str(gateway_port), **env)
    start_service("worker", "--processes", "1", "--threads", "4", **env)
    start_service("scheduler", "--port", str(free_port()), **env)
    api = env["api_base_url"]
    for url in (f"{api}/ready", f"{env['public_base_url']}/ready"):
        wait_for(lambda u=url: _up(u), timeout=60, what=url)

    business = make_business("Acme Dental")
    numbers = [f"+1666555{i:04d}" for i in range(6)]
    private_data.register(*numbers, AUTH_TOKEN)
    with tenant_session(business.id) as session:
        lead_ids = [upsert_lead(session, business.id, number)[0].id for number in numbers]
    auth = {"Authorization": f"Bearer {business.api_key}"}
    body = {"name": "Spring check-ups", "lead_ids": lead_ids, "concurrency": 1}
    run = httpx.post(f"{api}/api/v1/outbound-runs", headers=auth, json=body).json()

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{api}/dashboard/login")
        page.fill("#api_key", business.api_key)
        page.click("button[type=submit]")
        page.wait_for_url(f"{api}/dashboard")
        assert page.query_selector(f'[data-run="{run["id"]}"]') is None  # a draft is not active

        started = httpx.post(f"{api}/api/v1/outbound-runs/{run['id']}/start", headers=auth)
        assert started.status_code == 200
        bar = f'[data-run="{run["id"]}"] [role=progressbar]'
        page.wait_for_selector(bar, timeout=30_000)
        seen: list[int] = []
        deadline = time.monotonic() + 120
        while (element := page.query_selector(bar)) is not None and time.monotonic() < deadline:
            # Read from the handle: the bar may leave the page between the two calls, and a
            # selector-based read would then wait for it to come back.
            value = element.get_attribute("aria-valuenow")
            if value is not None and (not seen or int(value) != seen[-1]):
                seen.append(int(value))
            page.wait_for_timeout(100)
        browser.close()

    final = httpx.get(f"{api}/api/v1/outbound-runs/{run['id']}", headers=auth).json()
    assert final["status"] == "completed" and final["completed"] == 6 and not final["active"]
    assert seen == sorted(seen), f"the bar went backwards: {seen}"
    assert any(0 < value < 100 for value in seen), f"no intermediate progress seen: {seen}"
    dialed = [call.params["To"] for call in twilio.calls.values()]
    assert sorted(dialed) == sorted(set(dialed)) and len(dialed) == 6
