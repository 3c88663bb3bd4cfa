"""Stored and reflected XSS, proved in a real headless Chromium against a real API process:
every text a caller, contact or API client controls (business name, lead name, email and
intent, a CSV's bad row, a run's name and its items' reasons, a call's transcript, summary and
end reason, a recording's transcript, a WhatsApp message and its error, a job's error and
traceback, a parked event's error, a sandbox reply, search boxes) is put on each page and
live fragment that shows it, as markup, script, htmx attributes, a ``javascript:`` link and
template syntax.

Each page must show the payload as text, and the browser must have run nothing: no dialog, no
request to the payloads' URLs (an injected ``<img>`` or htmx element would fetch one), no
injected element in the DOM, no CSP violation (an escaped page gives the CSP nothing to block).
"""

from __future__ import annotations

import uuid
from urllib.parse import quote, urlsplit

import httpx
import pytest
from sqlalchemy import update

from switchboard.api.events import parking
from switchboard.common.db import tenant_session
from switchboard.common.events import CallEnded, utc_now
from switchboard.common.integrations.sandbox import inbox
from switchboard.common.models import (
    CallLog,
    Job,
    OutboundItem,
    OutboundRun,
    Recording,
    WhatsAppMessage,
)
from tests.support.factories import TestBusiness, make_business
from tests.support.ledger_rows import job_in
from tests.unit.api import rows
from tests.unit.api.rows import auth

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 15_000
#: Markup, script, an htmx element that would fetch at load, a javascript: link, Jinja syntax.
PAYLOAD = (
    "<img src=/evil-img onerror=alert(1)>'\"><script>alert(2)</script>"
    "<b hx-get=/evil-htmx hx-trigger=load>{{7*7}}</b><a href=javascript:alert(3)>j</a>"
)
SHORT = '"><img src=/evil-img onerror=alert(4)>'  # for columns of 64 characters or fewer
EMAIL = "<img/src=/evil-img/onerror=alert(5)>@evil.example"
WATCH = """
window.__violations = [];
window.__swaps = 0;
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
document.addEventListener("htmx:afterSettle", () => { window.__swaps += 1; });
"""
INJECTED = (
    "img[src='/evil-img'], [hx-get='/evil-htmx'], a[href^='javascript:'], "
    "script:not([src]):not([type='application/json'])"
)


def _seed(
    api_url: str, business: TestBusiness, text: str = PAYLOAD, short: str = SHORT
) -> dict[str, str]:
    """Every hostile text (``text``, ``short`` where a column holds 64 characters) in place;
    the pages that show them."""
    PAYLOAD, SHORT = text, short  # noqa: N806 (the module's payloads, unless others are given)
    created = httpx.post(
        f"{api_url}/api/v1/leads",
        headers=auth(business.api_key),
        json={"phone": "+15550101010", "name": PAYLOAD, "email": EMAIL, "intent": PAYLOAD},
    )
    assert created.status_code == 201, created.text
    lead_id = created.json()["id"]
    run = rows.running_run(business.id, 1)
    call = rows.call(
        business.id,
        summary=PAYLOAD,
        end_reason=SHORT,
        transcript=[{"role": SHORT, "text": PAYLOAD}, {"role": "caller", "content": PAYLOAD}],
    )
    recording = rows.recording(business.id, call)
    conversation = rows.conversation(business.id)
    message = rows.message(business.id, conversation.id, body=PAYLOAD)
    job = job_in(business.id, "dead", error=PAYLOAD)
    with tenant_session(business.id) as session:
        session.execute(update(OutboundRun).where(OutboundRun.id == run.id).values(name=PAYLOAD))
        session.execute(
            update(OutboundItem).where(OutboundItem.run_id == run.id).values(error=PAYLOAD)
        )
        session.execute(
            update(Recording).where(Recording.id == recording.id).values(transcript=PAYLOAD)
        )
        session.execute(
            update(WhatsAppMessage).where(WhatsAppMessage.id == message.id).values(error=PAYLOAD)
        )
        session.execute(update(Job).where(Job.id == job).values(last_traceback=PAYLOAD))
        session.execute(update(CallLog).where(CallLog.id == call.id).values(summary=PAYLOAD))
    ended = CallEnded(
        business_id=business.id,
        call_sid="CA" + uuid.uuid4().hex,
        stream_sid="MZ" + uuid.uuid4().hex,
        direction="inbound",
        from_number="+15557654321",
        to_number=business.phone_number,
        started_at=utc_now(),
        ended_at=utc_now(),
        duration_s=1.0,
        end_reason="caller_hung_up",
        transcript=[],
    )
    parking.park(ended.to_json_bytes(), ValueError(PAYLOAD), ended)
    inbox.deliver(business.id, "+15550101010", business.phone_number, PAYLOAD)
    assert lead_id
    return {
        "overview": "/dashboard",
        "leads": "/dashboard/leads",
        "leads search": f"/dashboard/leads?q={quote(PAYLOAD)}",
        "runs (history and live bars)": "/dashboard/runs",
        "one run (polled)": f"/dashboard/runs/{run.id}",
        "new run (leads, search)": f"/dashboard/runs/new?q={quote(SHORT)}",
        "calls search": f"/dashboard/calls?q={quote(SHORT[:32])}",
        "calls": "/dashboard/calls",
        "one call": f"/dashboard/calls/{call.id}",
        "conversations search": f"/dashboard/conversations?q={quote(SHORT[:32])}",
        "one conversation": f"/dashboard/conversations/{conversation.id}",
        "jobs": "/dashboard/jobs",
        "jobs by actor": f"/dashboard/jobs?actor={quote(SHORT)}",
        "one job": f"/dashboard/jobs/{job}",
        "parked events": "/dashboard/events",
        "sandbox": "/dashboard/sandbox",
    }


def _evil(url: str) -> bool:
    """A fetch of one of the payloads' URLs (not a page whose query merely quotes them)."""
    return urlsplit(url).path.startswith("/evil-")


def _nothing_ran(page, what: str, dialogs: list[str], fetched: list[str]) -> None:
    assert dialogs == [], (what, dialogs)
    assert fetched == [], (what, fetched)
    assert page.locator(INJECTED).count() == 0, (what, page.content())
    assert page.evaluate("window.__violations") == [], what


def test_hostile_text_is_shown_as_text_and_runs_nothing_on_any_page(browser_page, api_url) -> None:
    page = browser_page
    business = make_business(PAYLOAD[:190])
    pages = _seed(api_url, business)
    dialogs: list[str] = []
    fetched: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: _evil(request.url) and fetched.append(request.url))
    page.add_init_script(WATCH)
    page.goto(f"{api_url}/dashboard/login")
    page.fill("#api_key", business.api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{api_url}/dashboard")

    polled = {"overview", "runs (history and live bars)", "one run (polled)"}
    for what, path in pages.items():
        page.goto(f"{api_url}{path}")
        page.wait_for_load_state("load")
        if what in polled:  # the live fragment has been swapped in at least once
            page.wait_for_function("() => window.__swaps >= 1", timeout=TIMEOUT_MS)
        _nothing_ran(page, what, dialogs, fetched)
        text = page.inner_text("header" if what == "overview" else "main")
        text += " ".join(page.locator("main input").evaluate_all("els => els.map(e => e.value)"))
        assert "<img src=/evil-img" in text or "<img/src=/evil-img" in text, (what, text)
    assert "{{7*7}}" in page.inner_text("header") and "49" not in page.inner_text("header")


def test_a_csv_s_hostile_rows_are_reported_as_text(browser_page, api_url, tmp_path) -> None:
    page = browser_page
    business = make_business("Acme Dental")
    dialogs: list[str] = []
    fetched: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: _evil(request.url) and fetched.append(request.url))
    page.add_init_script(WATCH)
    page.goto(f"{api_url}/dashboard/login")
    page.fill("#api_key", business.api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{api_url}/dashboard")
    csv = tmp_path / "leads.csv"
    csv.write_text(f'phone,name,email\n"{SHORT}","{PAYLOAD}",{EMAIL}\n')
    page.goto(f"{api_url}/dashboard/runs/new")
    page.fill("#csv-run-name", PAYLOAD[:190])
    page.set_input_files("#csv-file", str(csv))
    page.click("#from-csv button[type=submit]")
    page.wait_for_selector("text=The file was not imported")
    _nothing_ran(page, "CSV errors", dialogs, fetched)
    assert page.input_value("#csv-run-name") == PAYLOAD[:190]


#: A right-to-left override (RLO) the text never closes, and a word too long for any column.
RTL = "\u202eevil.exe"
LONG = "W" * 180
#: Each text node and attribute value of the page whose bidi embeddings, overrides or
#: isolates are still open at its end: they would reorder what the page writes after it.
UNCLOSED_BIDI = """() => {
  const opens = {"\u202a": "E", "\u202b": "E", "\u202d": "E", "\u202e": "E",
                 "\u2066": "I", "\u2067": "I", "\u2068": "I"};
  const open = (text) => {
    const stack = [];
    for (const ch of text) {
      if (opens[ch]) stack.push(opens[ch]);
      else if (ch === "\u202c" && stack[stack.length - 1] === "E") stack.pop();
      else if (ch === "\u2069" && stack.includes("I")) {
        while (stack.pop() !== "I") { /* closes the embeddings inside the isolate too */ }
      }
    }
    return stack.length > 0;
  };
  const found = [];
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (open(node.data)) found.push(node.parentElement.tagName + ": " + node.data.slice(0, 60));
  }
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (open(attr.value)) found.push(el.tagName + "[" + attr.name + "]");
    }
  }
  return found;
}"""


def test_an_rtl_override_or_a_long_word_stays_within_its_own_text(browser_page, api_url) -> None:
    # A name holding U+202E (RLO) reversed what the page wrote after it (the run's status
    # pill was drawn inside its name); a 180-character word made pages 3,000 px wide, and a
    # WhatsApp message of 1,500 one 22,000 px.
    page = browser_page
    business = make_business(RTL + " " + LONG)
    pages = _seed(api_url, business, text=RTL + " " + LONG, short=RTL + "W" * 55)
    page.goto(f"{api_url}/dashboard/login")
    page.fill("#api_key", business.api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{api_url}/dashboard")
    conversation = rows.conversation(business.id)
    rows.message(business.id, conversation.id, body="W" * 1500)
    pages["a long message"] = f"/dashboard/conversations/{conversation.id}"
    for what, path in pages.items():
        page.goto(f"{api_url}{path}")
        page.wait_for_load_state("load")
        assert page.evaluate(UNCLOSED_BIDI) == [], what
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= page.viewport_size["width"], (what, wide)
