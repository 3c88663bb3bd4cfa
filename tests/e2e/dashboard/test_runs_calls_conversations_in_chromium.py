"""The console's outbound runs, WhatsApp conversations and calls in a real headless Chromium
against a real API process.

The API runs no jobs, so a started run's items are moved by the test through the states the
run engine writes (and its heartbeat refreshed): what is under test is what the browser shows.
``SCREENSHOTS=1`` also writes the pages to ``docs/screenshots/console-*.png``.
"""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import pytest
from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.models import OutboundItem, OutboundRun, WhatsAppMessage
from switchboard.common.settings import Settings
from switchboard.domain.outbound import runs
from tests.support.factories import TestBusiness, make_business
from tests.unit.api import rows

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
TIMEOUT_MS = 15_000


def _shot(page, name: str) -> None:
    if os.environ.get("SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, animations="disabled")


def _log_in(page, api_url: str, business: TestBusiness) -> None:
    page.goto(f"{api_url}/dashboard/login")
    page.fill("#api_key", business.api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{api_url}/dashboard")


def _items(business_id: int, run_id: int) -> list[int]:
    with tenant_session(business_id) as session:
        return list(
            session.execute(
                select(OutboundItem.id)
                .where(OutboundItem.business_id == business_id, OutboundItem.run_id == run_id)
                .order_by(OutboundItem.id)
            ).scalars()
        )


def _settle(business_id: int, run_id: int, item_id: int, status: str, error: str | None) -> None:
    """Write what the run engine writes when an item ends, and beat the run's heartbeat."""
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.business_id == business_id, OutboundItem.id == item_id)
            .values(
                status=status,
                attempts=1,
                call_sid=f"CA{item_id:032d}",
                calls_placed=1,
                placed_at=utcnow(),
                completed_at=utcnow(),
                last_call_status="busy" if status == "failed" else "completed",
                error=error,
            )
        )
        session.execute(
            update(OutboundRun)
            .where(OutboundRun.business_id == business_id, OutboundRun.id == run_id)
            .values(heartbeat_at=utcnow())
        )


def _wav(seconds: float = 3.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def test_create_a_run_from_leads_start_it_and_watch_completion_and_failure_reason(
    browser_page, api_url
) -> None:
    page = browser_page
    business = make_business("Acme Dental")
    for name in ("Jane Roe", "Ali Khan", "Mia Chen"):
        rows.lead(business.id, name=name, intent="book a check-up")
    _log_in(page, api_url, business)

    page.click("nav >> text=Outbound runs")
    page.click("#new-run")
    page.fill("#lead-run-name", "Spring check-ups")
    page.check("label:has-text('Jane Roe') >> xpath=ancestor::tr//input[@type='checkbox']")
    page.check("label:has-text('Mia Chen') >> xpath=ancestor::tr//input[@type='checkbox']")
    _shot(page, "console-run-new")
    page.click("#from-leads button[type=submit] >> text=Create run")
    page.wait_for_selector("text=Run created as a draft")
    run_id = int(page.url.split("/dashboard/runs/")[1].split("?")[0])
    assert page.locator("[data-item]").count() == 2

    page.click("#start-run")
    page.wait_for_selector("text=Run started")
    assert page.inner_text("[data-status]") == "running"
    first, second = _items(business.id, run_id)
    _settle(business.id, run_id, first, "failed", "call ended busy")
    # The run page re-reads itself while the run runs: the failure and its reason appear.
    page.wait_for_selector("[data-last-error]:has-text('call ended busy')", timeout=TIMEOUT_MS)
    assert "1 failed" in page.inner_text("#run-summary")

    page.click("text=← Outbound runs")
    bar = f'[data-run="{run_id}"]'
    page.wait_for_selector(f"{bar} [role=progressbar][aria-valuenow='50']", timeout=TIMEOUT_MS)
    assert "1 failed" in page.inner_text(bar)
    assert "Last reason: call ended busy" in page.inner_text(bar)
    _shot(page, "console-runs")

    _settle(business.id, run_id, second, "completed", None)
    with tenant_session(business.id) as session:
        session.execute(
            update(OutboundRun)
            .where(OutboundRun.business_id == business.id, OutboundRun.id == run_id)
            .values(status="completed", finished_at=utcnow())
        )
    page.wait_for_selector(bar, state="detached", timeout=TIMEOUT_MS)  # the live bar goes
    page.reload()
    history = page.locator(f'[data-history-run="{run_id}"]')
    assert history.locator("[data-status]").inner_text() == "completed"
    assert "call ended busy" in history.inner_text()
    page.click(f'[data-history-run="{run_id}"] a')
    assert "1 completed" in page.inner_text("#run-summary")
    _shot(page, "console-run")


def test_cancel_a_running_run_from_its_page(browser_page, api_url) -> None:
    page = browser_page
    business = make_business("Acme Dental")
    lead_ids = [rows.lead(business.id).id for _ in range(3)]
    run = runs.create_run(business.id, runs.NewRun(name="Autumn", lead_ids=lead_ids)).run
    runs.start_run(business.id, run.id)
    _log_in(page, api_url, business)
    page.goto(f"{api_url}/dashboard/runs/{run.id}")
    page.click("#cancel-run")
    page.wait_for_selector("text=Run cancelled")
    assert page.inner_text("[data-status]") == "cancelled"
    assert page.locator("#cancel-run").count() == 0
    assert "3 cancelled" in page.inner_text("#run-summary")
    assert runs.get_run(business.id, run.id).run.end_reason == "cancelled by request"


def test_open_a_whatsapp_conversation(browser_page, api_url) -> None:
    page = browser_page
    business = make_business("Acme Dental")
    thread = rows.conversation(business.id)
    rows.message(business.id, thread.id, body="Hi, can I book a cleaning?")
    with tenant_session(business.id) as session:
        reply = "Of course! Is Thursday at 10:00 good for you?"
        session.add(
            WhatsAppMessage(
                business_id=business.id,
                conversation_id=thread.id,
                direction="out",
                body=reply,
                status="delivered",
            )
        )
    rows.message(business.id, thread.id, body="Thursday 10:00 works")
    _log_in(page, api_url, business)
    page.click("nav >> text=Conversations")
    page.click(f'[data-conversation="{thread.id}"] a')
    page.wait_for_selector("#messages")
    text = page.inner_text("#messages")
    assert text.index("book a cleaning") < text.index("Is Thursday") < text.index("10:00 works")
    _shot(page, "console-conversation")


def test_open_a_call_read_its_transcript_and_play_its_recording(
    browser_page, api_url, database: Settings
) -> None:
    page = browser_page
    business = make_business("Acme Dental")
    transcript = [
        {"role": "agent", "text": "Acme Dental, this is Ava. How can I help?"},
        {"role": "caller", "text": "I'd like a check-up next week."},
    ]
    call = rows.call(business.id, transcript=transcript, duration_s=42.0)
    audio = _wav()
    key = f"{business.id}/{call.call_sid}.wav"
    make_recording_storage(database).put(key, audio)  # the API process reads the same directory
    rows.recording(business.id, call, storage_key=key)
    _log_in(page, api_url, business)

    page.click("nav >> text=Calls")
    page.click(f'[data-call="{call.id}"] a')
    page.wait_for_selector("#transcript")
    assert "I'd like a check-up next week." in page.inner_text("#transcript")
    player = page.locator("#recordings audio")
    src = player.get_attribute("src")
    assert src is not None
    # The player loads the recording (its duration is known once the metadata arrived) ...
    page.wait_for_function("document.querySelector('#recordings audio').readyState >= 1")
    assert player.evaluate("a => a.duration") == pytest.approx(3.0, abs=0.05)
    # ... and its source is the stored bytes, fetched with the page's session.
    fetched = page.evaluate(
        "async src => Array.from(new Uint8Array(await (await fetch(src)).arrayBuffer()))", src
    )
    assert bytes(fetched) == audio
    _shot(page, "console-call")
