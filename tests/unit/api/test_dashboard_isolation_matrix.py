"""The console's routes that name an object × another business's id, logged in as the intruder:
404, answered as for an id that does not exist, and the owner's object unchanged; forms that
name another business's objects change nothing. ``test_isolation_matrix`` checks that this
matrix and the API's cover every route with an id in its path."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.service import get_job
from switchboard.common.settings import get_settings
from switchboard.domain import erasures
from switchboard.domain.outbound import runs
from switchboard.worker.runtime.ledger import mark_dead
from tests.support import actors
from tests.support.factories import TestBusiness, make_business, unique_phone
from tests.unit.api import rows
from tests.unit.api.test_dashboard_pages import log_in

#: (method, path template, form) for every console route that names an object; ``csrf`` in a
#: form is replaced by the intruder's own token.
DASHBOARD_MATRIX = [
    ("GET", "/dashboard/calls/{call}", None),
    ("GET", "/dashboard/calls/{call}/recordings/{recording}/audio", None),
    ("GET", "/dashboard/conversations/{conversation}", None),
    ("GET", "/dashboard/erasures/{erasure}", None),
    ("GET", "/dashboard/jobs/{job}", None),
    ("POST", "/dashboard/jobs/{job}/cancel", {"csrf_token": "csrf"}),
    ("POST", "/dashboard/jobs/{dead_job}/retry", {"csrf_token": "csrf"}),
    ("POST", "/dashboard/jobs/{dead_job}/discard", {"csrf_token": "csrf"}),
    ("GET", "/dashboard/runs/{run}", None),
    ("POST", "/dashboard/runs/{run}/start", {"csrf_token": "csrf"}),
    ("POST", "/dashboard/runs/{run}/cancel", {"csrf_token": "csrf"}),
]
#: Routes with a path parameter that name a file, not a business's object.
STATIC = ["/dashboard/static/{name}", "/docs/assets/{directory}/{name}"]
MISSING_ID = 987_654_321_987
MISSING_JOB = str(uuid.UUID(int=0x1234))


@dataclass
class Theirs:
    """The owner's objects, and the intruder logged in (with its CSRF token)."""

    owner: TestBusiness
    ids: dict[str, Any]
    csrf: str

    def missing(self) -> dict[str, Any]:
        return {
            name: MISSING_JOB if "job" in name else MISSING_ID + index
            for index, name in enumerate(self.ids)
        }

    def state(self) -> tuple[Any, ...]:
        """What an action on the owner's objects would change."""
        return (
            get_job(self.owner.id, self.ids["job"]).status,
            get_job(self.owner.id, self.ids["dead_job"]).status,
            runs.get_run(self.owner.id, self.ids["run"]).run.status,
            erasures.get_erasure(self.owner.id, self.ids["erasure"]).status,
        )


@pytest.fixture
def theirs(client: TestClient) -> Theirs:
    # The tier's settings, never ``embedded`` (see ``test_isolation_matrix.owned``).
    owner = make_business()
    lead = rows.lead(owner.id)
    call = rows.call(owner.id, lead_id=lead.id)
    make_recording_storage(get_settings()).put(f"{owner.id}/theirs.wav", b"RIFF owner's audio")
    recording = rows.recording(owner.id, call, storage_key=f"{owner.id}/theirs.wav")
    conversation = rows.conversation(owner.id, lead_id=lead.id)
    job = enqueue(actors.NOOP, business_id=owner.id).job_id
    dead_job = enqueue(actors.NOOP, business_id=owner.id).job_id
    mark_dead(dead_job, "boom")
    run = runs.create_run(owner.id, runs.NewRun(name="Theirs", lead_ids=[lead.id])).run
    erasure = erasures.request_erasure(owner.id, unique_phone()).erasure
    ids = {
        "lead": lead.id,
        "call": call.id,
        "recording": recording.id,
        "conversation": conversation.id,
        "job": job,
        "dead_job": dead_job,
        "run": run.id,
        "erasure": erasure.id,
    }
    csrf = log_in(client, make_business("Intruder"))
    return Theirs(owner, ids, csrf)


def _form(form: dict[str, str] | None, csrf: str) -> dict[str, str] | None:
    return {
        name: csrf if value == "csrf" else value for name, value in (form or {}).items()
    } or None


@pytest.mark.parametrize(
    ("method", "path", "form"), DASHBOARD_MATRIX, ids=[f"{m} {p}" for m, p, _ in DASHBOARD_MATRIX]
)
def test_another_business_s_object_is_404_on_the_console_and_stays_untouched(
    client: TestClient, theirs: Theirs, method: str, path: str, form: dict[str, str] | None
) -> None:
    before = theirs.state()
    data = _form(form, theirs.csrf)

    foreign = client.request(method, path.format(**theirs.ids), data=data, follow_redirects=False)
    absent = client.request(
        method, path.format(**theirs.missing()), data=data, follow_redirects=False
    )

    assert foreign.status_code == absent.status_code == 404, foreign.text
    assert _masked(foreign.text, theirs.ids) == _masked(absent.text, theirs.missing())
    assert theirs.state() == before


@pytest.mark.parametrize("range_header", ["bytes=0-3", "bytes=-2", "bytes=999-"])
def test_a_range_of_another_business_s_recording_is_404_on_the_console(
    client: TestClient, theirs: Theirs, range_header: str
) -> None:
    path = "/dashboard/calls/{call}/recordings/{recording}/audio"
    headers = {"Range": range_header}
    foreign = client.get(path.format(**theirs.ids), headers=headers)
    absent = client.get(path.format(**theirs.missing()), headers=headers)
    assert foreign.status_code == absent.status_code == 404, foreign.text
    assert "content-range" not in foreign.headers
    assert _masked(foreign.text, theirs.ids) == _masked(absent.text, theirs.missing())


def test_a_bulk_action_on_another_business_s_jobs_acts_on_none(
    client: TestClient, theirs: Theirs
) -> None:
    before = theirs.state()
    for action in ("retry", "cancel", "discard"):
        answer = client.post(
            "/dashboard/jobs/bulk",
            data={
                "csrf_token": theirs.csrf,
                "action": action,
                "job_id": [theirs.ids["job"], theirs.ids["dead_job"]],
            },
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert "n=0" in answer.headers["location"] and "refused=2" in answer.headers["location"]
    assert theirs.state() == before


def test_a_run_over_another_business_s_lead_is_refused_as_a_missing_lead(
    client: TestClient, theirs: Theirs
) -> None:
    def create(lead_id: int) -> Any:
        form = {"csrf_token": theirs.csrf, "name": "Theirs", "lead_ids": [lead_id]}
        return client.post("/dashboard/runs", data=form, follow_redirects=False)

    foreign, absent = create(theirs.ids["lead"]), create(MISSING_ID)

    assert foreign.status_code == absent.status_code == 422
    assert "not found" in foreign.text
    said, said_absent = _alert(foreign.text), _alert(absent.text)
    assert said.replace(str(theirs.ids["lead"]), "<id>") == said_absent.replace(
        str(MISSING_ID), "<id>"
    )
    assert foreign.text.replace(said, "") == absent.text.replace(said_absent, "")
    assert 'data-history-run="' not in client.get("/dashboard/runs").text


def _alert(page: str) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', page)
    assert found, page
    return found.group(1)


def _masked(text: str, ids: dict[str, Any]) -> str:
    # An id as a word of the answer ("run 3 not found"), not a number of the error page's
    # markup (``initial-scale=1``, ``htmx-2.0.11``, ``<h1>404``, ``data-status="404"``).
    for value in sorted((str(v) for v in ids.values()), key=len, reverse=True):
        text = re.sub(rf'(?<![\w.=>"-]){re.escape(value)}(?![\w.-])', "<id>", text)
    return text
