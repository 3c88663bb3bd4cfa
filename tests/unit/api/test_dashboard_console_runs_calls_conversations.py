"""The console's outbound runs, calls and WhatsApp conversations pages, through the real app on
an embedded database: forms with CSRF, bad input as a 4xx on the page, another business's ids
as 404."""

from __future__ import annotations

import re
import tracemalloc

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from switchboard.common.db import tenant_session
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.models import Lead, OutboundItem, OutboundRun
from switchboard.common.settings import Settings
from switchboard.domain.erasures import request_erasure
from switchboard.domain.outbound import runs
from switchboard.domain.whatsapp import delivery
from tests.support.factories import TestBusiness, make_business
from tests.unit.api import rows
from tests.unit.api.test_dashboard_pages import log_in

CSV = "phone,name\n+15557000001,Jane Roe\n+1 555 700 0002,Ali Khan\n"


@pytest.fixture
def business() -> TestBusiness:
    return make_business("Acme Dental")


def _run_id(response) -> int:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/dashboard/runs/(\d+)\?done=\w+", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


def _fail_first_item(business_id: int, run_id: int, reason: str) -> None:
    with tenant_session(business_id) as session:
        first = session.execute(
            select(OutboundItem.id)
            .where(OutboundItem.business_id == business_id, OutboundItem.run_id == run_id)
            .order_by(OutboundItem.id)
            .limit(1)
        ).scalar_one()
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.id == first)
            .values(status="failed", attempts=1, error=reason, last_call_status="busy")
        )


def test_a_run_is_created_from_ticked_leads_then_started_and_cancelled(client, business) -> None:
    leads = [rows.lead(business.id, name=name) for name in ("Jane Roe", "Ali Khan", "Mia Chen")]
    csrf = log_in(client, business)
    form = client.get("/dashboard/runs/new").text
    assert all(f'name="lead_ids" value="{lead.id}"' in form for lead in leads)

    created = client.post(
        "/dashboard/runs",
        data={"csrf_token": csrf, "name": "Spring", "lead_ids": [leads[0].id, leads[2].id]},
        follow_redirects=False,
    )
    run_id = _run_id(created)
    page = client.get(created.headers["location"]).text
    assert "Run created as a draft" in page and 'id="start-run"' in page
    assert page.count("data-item=") == 2

    started = client.post(f"/dashboard/runs/{run_id}/start", data={"csrf_token": csrf})
    assert started.status_code == 200 and "Run started" in started.text
    assert runs.get_run(business.id, run_id).run.status == "running"
    again = client.post(f"/dashboard/runs/{run_id}/start", data={"csrf_token": csrf})
    assert again.status_code == 409 and "already running" in again.text

    cancelled = client.post(f"/dashboard/runs/{run_id}/cancel", data={"csrf_token": csrf})
    assert cancelled.status_code == 200 and "Run cancelled" in cancelled.text
    assert runs.get_run(business.id, run_id).run.status == "cancelled"
    assert 'id="cancel-run"' not in cancelled.text


def test_an_ended_run_is_re_read_while_a_call_of_it_is_still_in_flight(client, business) -> None:
    """A cancelled run whose dial still waits for Twilio's list can still change: its page
    keeps re-reading itself until no item is in flight."""
    log_in(client, business)
    lead = rows.lead(business.id, name="Jane Roe")
    run_id = runs.create_run(business.id, runs.NewRun(name="Spring", lead_ids=[lead.id])).run.id
    runs.cancel_run(business.id, run_id)
    assert 'hx-trigger="every 2s"' not in client.get(f"/dashboard/runs/{run_id}").text
    with tenant_session(business.id) as session:
        session.execute(
            update(OutboundItem).where(OutboundItem.run_id == run_id).values(status="dialing")
        )
    assert 'hx-trigger="every 2s"' in client.get(f"/dashboard/runs/{run_id}").text


def test_forms_without_the_session_s_csrf_token_change_nothing(client, business) -> None:
    lead = rows.lead(business.id)
    draft = runs.create_run(business.id, runs.NewRun(name="Draft", lead_ids=[lead.id]))
    log_in(client, business)
    forged = {"csrf_token": "forged", "name": "x", "lead_ids": [lead.id]}
    assert client.post("/dashboard/runs", data=forged).status_code == 403
    for action in ("start", "cancel"):
        path = f"/dashboard/runs/{draft.run.id}/{action}"
        assert client.post(path, data={"csrf_token": "forged"}).status_code == 403
    assert runs.get_run(business.id, draft.run.id).run.status == "draft"


def test_bad_run_input_is_said_on_the_form_with_a_4xx(client, business) -> None:
    lead = rows.lead(business.id)
    csrf = log_in(client, business)
    nothing_ticked = client.post("/dashboard/runs", data={"csrf_token": csrf, "name": "Spring"})
    assert nothing_ticked.status_code == 422
    assert 'role="alert"' in nothing_ticked.text and "matches no leads" in nothing_ticked.text
    over_cap = client.post(
        "/dashboard/runs",
        data={"csrf_token": csrf, "name": "Spring", "lead_ids": [lead.id], "concurrency": 100},
    )
    assert over_cap.status_code == 422 and "exceeds this business" in over_cap.text
    not_a_number = client.post(
        "/dashboard/runs", data={"csrf_token": csrf, "name": "x", "lead_ids": ["abc"]}
    )
    assert not_a_number.status_code == 422
    blank = client.post(
        "/dashboard/runs", data={"csrf_token": csrf, "name": "  ", "lead_ids": [lead.id]}
    )
    assert blank.status_code == 422
    assert runs.list_runs(business.id) == []


def test_a_run_over_a_lead_with_the_business_s_own_number_is_refused_naming_it(
    client, business
) -> None:
    """A lead from before the rule, or one a call wrote: the run would have the agent call
    itself. Ticked in the form, or in an uploaded file, it is said on the page."""
    other = rows.lead(business.id)
    own = rows.lead(business.id, phone=business.phone_number)
    csrf = log_in(client, business)

    ticked = client.post(
        "/dashboard/runs",
        data={"csrf_token": csrf, "name": "Spring", "lead_ids": [other.id, own.id]},
    )
    uploaded = client.post(
        "/dashboard/runs/csv",
        data={"csrf_token": csrf, "name": "From a file"},
        files={
            "file": ("leads.csv", f"phone\n+15557000003\n{business.phone_number}\n", "text/csv")
        },
    )

    assert ticked.status_code == 422
    assert "this business&#39;s own number, the one its agent answers" in ticked.text
    assert f"({own.id})" in ticked.text
    assert uploaded.status_code == 422
    assert "line 3, field &#39;phone&#39;: is this business&#39;s own number" in uploaded.text
    assert runs.list_runs(business.id) == []


@pytest.mark.parametrize("written", ["{n}.0", "+{n}", " {n}", "{n}_0"])
def test_a_number_in_a_run_form_not_written_in_digits_is_a_422_naming_it(
    client, business, written: str
) -> None:
    # Read leniently, concurrency "2.0" was 2 and lead "+7" lead 7: a run made of what the
    # form did not say.
    lead = rows.lead(business.id)
    csrf = log_in(client, business)
    forms = [
        ("/dashboard/runs", {"lead_ids": [written.format(n=lead.id)]}, {}, "lead_ids"),
        ("/dashboard/runs", {"lead_ids": [lead.id], "concurrency": written.format(n=2)}, {}, ""),
        ("/dashboard/runs/csv", {"concurrency": written.format(n=2)}, {"file": ("l.csv", CSV)}, ""),
    ]
    for path, data, files, field in forms:
        field = field or "concurrency"
        answer = client.post(path, data={"csrf_token": csrf, "name": "R", **data}, files=files)

        assert answer.status_code == 422, (path, data, answer.text)
        assert f'<tr data-parameter="{field}">' in answer.text and "form field" in answer.text
        assert "whole number written in the digits 0-9" in answer.text
    assert runs.list_runs(business.id) == []


def test_a_run_is_created_from_an_uploaded_csv_of_exactly_its_leads(client, business) -> None:
    rows.lead(business.id, name="Not in the file")
    csrf = log_in(client, business)
    created = client.post(
        "/dashboard/runs/csv",
        data={"csrf_token": csrf, "name": "From a file"},
        files={"file": ("leads.csv", CSV.encode(), "text/csv")},
        follow_redirects=False,
    )
    run_id = _run_id(created)
    items = runs.list_items(business.id, run_id)
    assert sorted(item.phone for item in items) == ["+15557000001", "+15557000002"]


def test_a_csv_with_errors_names_its_lines_and_imports_nothing(client, business) -> None:
    csrf = log_in(client, business)
    bad = "phone,name\n+15557000001,Jane Roe\nnot-a-phone,Ali Khan\n"
    answer = client.post(
        "/dashboard/runs/csv",
        data={"csrf_token": csrf, "name": "From a file"},
        files={"file": ("leads.csv", bad.encode(), "text/csv")},
    )
    assert answer.status_code == 422 and "line 3, field &#39;phone&#39;" in answer.text
    with tenant_session(business.id) as session:
        assert session.execute(select(Lead).where(Lead.business_id == business.id)).first() is None
    assert runs.list_runs(business.id) == []


def test_a_csv_of_a_header_alone_says_the_file_has_no_leads(client, business) -> None:
    csrf = log_in(client, business)
    answer = client.post(
        "/dashboard/runs/csv",
        data={"csrf_token": csrf, "name": "From a file"},
        files={"file": ("leads.csv", b"phone,name\n", "text/csv")},
    )
    assert answer.status_code == 422
    assert "line 2, field &#39;file&#39;: no leads under the header" in answer.text
    assert runs.list_runs(business.id) == []


def test_a_csv_of_many_bad_lines_stops_at_the_thousandth_error(client, business) -> None:
    # Every error was kept: 5 MB of bad one-character lines held 2.6 million of them (13 s
    # and 800 MB to read, for a page that shows 50).
    csrf = log_in(client, business)
    bad = "phone\n" + "x\n" * 5_000
    answer = client.post(
        "/dashboard/runs/csv",
        data={"csrf_token": csrf, "name": "From a file"},
        files={"file": ("leads.csv", bad.encode(), "text/csv")},
    )
    # 1,000 errors and the one that says the parse stopped there: 50 shown, 951 more; the
    # last of them is that one (it was among the 951, so the reason the list ends was hidden).
    assert answer.status_code == 422 and "… and 951 more." in answer.text
    shown = re.findall(r"<li>(line .*?)</li>", answer.text)
    assert len(shown) == 50 and shown[:2] == [
        "line 2, field &#39;phone&#39;: &#39;x&#39; is not a phone number in E.164 form "
        "(+15551234567)",
        "line 3, field &#39;phone&#39;: &#39;x&#39; is not a phone number in E.164 form "
        "(+15551234567)",
    ]
    assert shown[-2].startswith("line 50, ") and shown[-1] == (
        "line 1001, field &#39;file&#39;: more than 1000 errors: stopped reading here; "
        "correct these first"
    )
    assert runs.list_runs(business.id) == []


def test_a_csv_header_naming_phone_800_000_times_is_refused(client, business) -> None:
    # Each column was counted through the whole header (quadratic): 60,000 columns took
    # ~50 s, and this header, just under the 5 MB a file may have, hours of the server's time
    # (past the suite's timeout); counted once, it is read in a fraction of a second.
    csrf = log_in(client, business)
    header = ",".join(["phone"] * 800_000)
    answer = client.post(
        "/dashboard/runs/csv",
        data={"csrf_token": csrf, "name": "From a file"},
        files={"file": ("leads.csv", f"{header}\n".encode(), "text/csv")},
    )
    assert answer.status_code == 422
    assert "column &#39;phone&#39; appears 800000 times in the header" in answer.text


def test_a_csv_with_a_number_being_erased_names_its_line_and_imports_nothing(
    client, business
) -> None:
    """As for any bad row: the page names the row's line, ``phone`` and the erasure, never
    the number; no lead and no run is made."""
    erasure = request_erasure(business.id, "+15557000002").erasure
    csrf = log_in(client, business)
    answer = client.post(
        "/dashboard/runs/csv",
        data={"csrf_token": csrf, "name": "From a file"},
        files={"file": ("leads.csv", CSV.encode(), "text/csv")},
    )
    assert answer.status_code == 422
    assert "line 3, field &#39;phone&#39;: the number is being erased" in answer.text
    assert f"erasure {erasure.id}" in answer.text and "+15557000002" not in answer.text
    with tenant_session(business.id) as session:
        assert session.execute(select(Lead).where(Lead.business_id == business.id)).first() is None
    assert runs.list_runs(business.id) == []


def test_a_csv_run_over_the_concurrency_cap_imports_nothing(client, business) -> None:
    """The cap was checked when the run was made, after the import: the page said 422 and the
    file's leads were in, an existing lead rewritten by the file."""
    kept = rows.lead(business.id, name="Kept Name")
    csrf = log_in(client, business)
    csv = f"phone,name,status\n{kept.phone},Rewritten,lost\n+15557000001,Jane Roe,new\n"
    answer = client.post(
        "/dashboard/runs/csv",
        data={"csrf_token": csrf, "name": "From a file", "concurrency": 100},
        files={"file": ("leads.csv", csv.encode(), "text/csv")},
    )
    assert answer.status_code == 422 and "exceeds this business" in answer.text
    with tenant_session(business.id) as session:
        mine = select(Lead.phone, Lead.name, Lead.status).where(Lead.business_id == business.id)
        leads = session.execute(mine).all()
    assert [tuple(lead) for lead in leads] == [(kept.phone, "Kept Name", "new")]
    assert runs.list_runs(business.id) == []


def test_the_history_lists_every_run_with_the_latest_failure_reason(client, business) -> None:
    lead = rows.lead(business.id)
    draft = runs.create_run(business.id, runs.NewRun(name="Draft run", lead_ids=[lead.id]))
    running = rows.running_run(business.id, items=3)
    _fail_first_item(business.id, running.id, "call ended busy")
    finished = rows.running_run(business.id, items=1)
    rows.finish_run(business.id, finished.id)
    log_in(client, business)
    page = client.get("/dashboard/runs").text
    for run_id in (draft.run.id, running.id, finished.id):
        assert f'data-history-run="{run_id}"' in page
    assert "call ended busy" in page
    detail = client.get(f"/dashboard/runs/{running.id}").text
    assert "Last reason: call ended busy" in detail and "1 failed" in detail


def test_the_live_bars_show_failed_items_and_the_last_reason(client, business) -> None:
    run = rows.running_run(business.id, items=4)
    _fail_first_item(business.id, run.id, "TwilioPermanentError: 21211 invalid number")
    logged_out = client.get("/dashboard/runs/live", headers={"HX-Request": "true"})
    assert logged_out.status_code == 401 and logged_out.headers["hx-redirect"] == "/dashboard/login"
    log_in(client, business)
    bars = client.get("/dashboard/runs/live").text
    assert f'data-run="{run.id}"' in bars and 'aria-valuenow="25"' in bars
    assert "1 failed" in bars and "Last reason: TwilioPermanentError: 21211" in bars
    assert 'hx-get="/dashboard/runs/live"' in client.get("/dashboard/runs").text


def test_a_conversation_reads_oldest_message_first(client, business) -> None:
    thread = rows.conversation(business.id)
    for body in ("first <b>hello</b>", "second", "third"):
        rows.message(business.id, thread.id, body=body)
    log_in(client, business)
    listing = client.get("/dashboard/conversations").text
    assert f'href="/dashboard/conversations/{thread.id}"' in listing
    page = client.get(f"/dashboard/conversations/{thread.id}").text
    assert page.index("first &lt;b&gt;hello") < page.index("second") < page.index("third")


def test_a_conversation_marks_each_reply_sent_delivered_or_read(client, business) -> None:
    thread = rows.conversation(business.id, business_number=business.phone_number)
    for n, report in enumerate(("sent", "delivered", "read", "undelivered", None)):
        sid = f"SM{thread.id}x{n}"
        rows.message(
            business.id, thread.id, f"reply {n}", direction="out", status="sent", message_sid=sid
        )
        if report is not None:
            assert delivery.record_delivery(business.phone_number, sid, report, "63016")
    log_in(client, business)
    page = client.get(f"/dashboard/conversations/{thread.id}").text
    turns = re.findall(r'<li class="turn agent".*?</li>', page, flags=re.S)
    marks = [re.search(r'<span class="delivery (\w+)"[^>]*>([^<]*)<', turn) for turn in turns]
    assert [m.groups() if m else None for m in marks] == [
        ("sent", "✓"),
        ("delivered", "✓✓"),
        ("read", "✓✓ read"),
        None,
        None,
    ]
    assert "failed · undelivered" in turns[3] and "63016" in turns[3]


def test_a_call_page_plays_its_stored_recording_in_ranges(
    client, business, embedded: Settings
) -> None:
    call = rows.call(business.id)
    audio = b"RIFF" + bytes(range(256)) * 4
    make_recording_storage(embedded).put(f"{business.id}/{call.call_sid}.wav", audio)
    recording = rows.recording(business.id, call, storage_key=f"{business.id}/{call.call_sid}.wav")
    log_in(client, business)
    page = client.get(f"/dashboard/calls/{call.id}").text
    src = f"/dashboard/calls/{call.id}/recordings/{recording.id}/audio"
    assert f'<audio controls preload="metadata" src="{src}">' in page and "Hello!" in page
    whole = client.get(src)
    assert whole.status_code == 200 and whole.content == audio
    assert (
        whole.headers["content-type"] == "audio/wav" and whole.headers["accept-ranges"] == "bytes"
    )
    part = client.get(src, headers={"Range": "bytes=4-7"})
    assert part.status_code == 206 and part.content == audio[4:8]
    assert part.headers["content-range"] == f"bytes 4-7/{len(audio)}"
    assert client.get(src, headers={"Range": "bytes=-4"}).content == audio[-4:]
    assert client.get(src, headers={"Range": "bytes=99999-"}).status_code == 416


def test_a_range_of_an_hour_long_recording_is_read_from_its_file_not_the_whole_file(
    client, business, embedded: Settings
) -> None:
    """A player seeks with many small ranges; an hour of a call's WAV is about 58 MB."""
    call = rows.call(business.id)
    key = f"{business.id}/{call.call_sid}.wav"
    size = 16 * 1024 * 1024
    make_recording_storage(embedded).put(key, b"RIFF" + bytes(size - 4))
    recording = rows.recording(business.id, call, storage_key=key)
    log_in(client, business)
    src = f"/dashboard/calls/{call.id}/recordings/{recording.id}/audio"

    tracemalloc.start()
    try:
        part = client.get(src, headers={"Range": "bytes=0-3"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (part.status_code, part.content) == (206, b"RIFF")
    assert part.headers["content-range"] == f"bytes 0-3/{size}"
    assert peak < size // 4
    tail = client.get(src, headers={"Range": "bytes=-2"})
    assert (tail.content, tail.headers["content-length"]) == (b"\x00\x00", "2")
    assert client.get(src, headers={"Range": "bytes=0-1, 4-5"}).status_code == 200  # several
    assert client.get(src, headers={"Range": f"bytes={size}-"}).status_code == 416


def test_a_recording_without_stored_audio_is_404_and_shows_no_player(client, business) -> None:
    call = rows.call(business.id)
    pending = rows.recording(business.id, call, status="pending")
    log_in(client, business)
    assert "<audio" not in client.get(f"/dashboard/calls/{call.id}").text
    path = f"/dashboard/calls/{call.id}/recordings/{pending.id}/audio"
    assert client.get(path).status_code == 404


def test_calls_are_filtered_by_number_and_direction(client, business) -> None:
    inbound = rows.call(business.id, from_number="+15558880001")
    outbound = rows.call(business.id, direction="outbound")
    log_in(client, business)
    by_number = client.get("/dashboard/calls", params={"q": "8880001"}).text
    assert (
        f'data-call="{inbound.id}"' in by_number and f'data-call="{outbound.id}"' not in by_number
    )
    by_direction = client.get("/dashboard/calls", params={"direction": "outbound"}).text
    assert f'data-call="{outbound.id}"' in by_direction
    assert f'data-call="{inbound.id}"' not in by_direction
    assert client.get("/dashboard/calls", params={"direction": "sideways"}).status_code == 422


def test_another_business_s_run_call_recording_and_conversation_are_404(
    client: TestClient, business, embedded: Settings
) -> None:
    other = make_business()
    lead = rows.lead(other.id)
    run = runs.create_run(other.id, runs.NewRun(name="Theirs", lead_ids=[lead.id])).run
    call = rows.call(other.id)
    make_recording_storage(embedded).put(f"{other.id}/{call.call_sid}.wav", b"RIFF")
    recording = rows.recording(other.id, call, storage_key=f"{other.id}/{call.call_sid}.wav")
    thread = rows.conversation(other.id)
    csrf = log_in(client, business)
    for path in (
        f"/dashboard/runs/{run.id}",
        f"/dashboard/calls/{call.id}",
        f"/dashboard/calls/{call.id}/recordings/{recording.id}/audio",
        f"/dashboard/conversations/{thread.id}",
    ):
        assert client.get(path).status_code == 404, path
    for action in ("start", "cancel"):
        answer = client.post(f"/dashboard/runs/{run.id}/{action}", data={"csrf_token": csrf})
        assert answer.status_code == 404
    mine = client.post(
        "/dashboard/runs", data={"csrf_token": csrf, "name": "x", "lead_ids": [lead.id]}
    )
    assert mine.status_code == 422 and "not found" in mine.text  # their lead is not ours
    assert runs.get_run(other.id, run.id).run.status == "draft"
    assert f'data-history-run="{run.id}"' not in client.get("/dashboard/runs").text


def test_a_run_form_naming_the_run_twice_is_refused_naming_the_field(client, business) -> None:
    # Before, the last name given was kept and no one was told.
    lead = rows.lead(business.id, name="Jane Roe")
    csrf = log_in(client, business)
    refused = client.post(
        "/dashboard/runs",
        data={"csrf_token": csrf, "name": ["Spring", "Autumn"], "lead_ids": [lead.id]},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "name" in refused.text and "given more than once (2 times)" in refused.text
    with tenant_session(business.id) as session:
        runs_made = select(func.count()).where(OutboundRun.business_id == business.id)
        assert session.scalar(runs_made) == 0
