"""``switchboard jobs|outbound|leads|calls|erasures`` as an operator types them: the CLI as a
process against a real API process, tables with whole ids, ``--json`` alone on stdout."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from switchboard.common.db.tenancy import tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.models import Erasure
from switchboard.common.models.jobs import Job
from tests.support import actors, private_data
from tests.support.api_server import running_api, shared_sqlite
from tests.support.factories import TestBusiness, make_business
from tests.support.processes import run_cli, service_env
from tests.unit.api import rows

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("cli-operator")
    with shared_sqlite(directory) as settings, running_api(settings, directory) as url:
        yield url


@pytest.fixture
def business(api_url: str) -> TestBusiness:
    return make_business()


def cli(api_url: str, business: TestBusiness, *args: str) -> subprocess.CompletedProcess[str]:
    env = service_env(api_base_url=api_url, switchboard_api_key=business.api_key)
    return run_cli(*args, env=env)


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    """The command's stdout, which must be exactly one JSON document."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def dead_job(business: TestBusiness, job_id: str, error: str) -> str:
    enqueue(actors.NOOP, business_id=business.id, job_id=job_id)
    with tenant_session(business.id) as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(status="dead", attempts=4, last_error=error)
        )
    return job_id


def test_jobs_list_shows_whole_ids_and_show_finds_a_job_by_a_prefix(api_url, business) -> None:
    dead_id = dead_job(business, str(uuid.uuid4()), "TwilioRestError: the number is unreachable")
    queued_id = enqueue(actors.NOOP, business_id=business.id).job_id
    table = cli(api_url, business, "jobs", "list")
    assert table.returncode == 0, table.stderr
    assert dead_id in table.stdout and queued_id in table.stdout
    shown = cli(api_url, business, "jobs", "show", dead_id[:8])
    assert shown.returncode == 0, shown.stderr
    assert f"job {dead_id}" in shown.stdout and "dead" in shown.stdout
    assert "the number is unreachable" in shown.stdout and "enqueued" in shown.stdout
    as_json = json_of(cli(api_url, business, "jobs", "show", dead_id[:8], "--json"))
    assert (as_json["id"], as_json["status"], as_json["attempts"]) == (dead_id, "dead", 4)
    retried = json_of(cli(api_url, business, "jobs", "retry", dead_id[:6], "--json"))
    assert (retried["id"], retried["status"]) == (dead_id, "queued")
    listed = json_of(cli(api_url, business, "jobs", "list", "--status", "queued", "--json"))
    assert sorted(job["id"] for job in listed) == sorted([dead_id, queued_id])


def test_a_job_that_succeeded_on_a_retry_shows_its_error_as_an_earlier_attempt_s(
    api_url, business
) -> None:
    """The ledger keeps the last error after a retry succeeds; `jobs show` must not read as if
    the job had failed (README, "Find a dead job and retry it")."""
    job_id = dead_job(business, str(uuid.uuid4()), "WebhookRetryableError: connection refused")
    with tenant_session(business.id) as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="succeeded"))
    shown = cli(api_url, business, "jobs", "show", job_id)
    assert shown.returncode == 0, shown.stderr
    assert "last error (an earlier attempt's):" in shown.stdout
    assert "connection refused" in shown.stdout
    dead = cli(api_url, business, "jobs", "show", dead_job(business, str(uuid.uuid4()), "boom"))
    assert "last error:" in dead.stdout and "earlier attempt" not in dead.stdout


def test_jobs_list_filters_by_actor_for_retrying_one_integration_s_dead_jobs(
    api_url, business
) -> None:
    dead = dead_job(business, str(uuid.uuid4()), "TwilioRestError: the number is unreachable")
    enqueue(actors.COUNT_RUNS, business_id=business.id, marker="unused")
    other_dead = str(uuid.uuid4())
    enqueue(actors.COUNT_RUNS, business_id=business.id, marker="unused", job_id=other_dead)
    with tenant_session(business.id) as session:
        session.execute(update(Job).where(Job.id == other_dead).values(status="dead"))
    args = ("jobs", "list", "--status", "dead", "--actor", actors.NOOP.name, "--json")
    assert [job["id"] for job in json_of(cli(api_url, business, *args))] == [dead]
    assert "--actor" in cli(api_url, business, "jobs", "list", "--help").stdout


def test_an_ambiguous_or_unknown_prefix_is_an_error_on_stderr_with_exit_2(api_url, business):
    shared = uuid.uuid4().hex[:6]
    for tail in ("a", "b"):
        enqueue(actors.NOOP, business_id=business.id, job_id=shared + tail + str(uuid.uuid4())[7:])
    ambiguous = cli(api_url, business, "jobs", "show", shared, "--json")
    assert ambiguous.returncode == 2 and ambiguous.stdout == ""
    assert f"'{shared}' is the start of several job ids" in ambiguous.stderr
    foreign = dead_job(make_business(), str(uuid.uuid4()), "boom")
    unknown = cli(api_url, business, "jobs", "cancel", foreign[:8])
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert f"no job has an id starting with '{foreign[:8]}'" in unknown.stderr
    short = cli(api_url, business, "jobs", "show", "3f2")
    assert short.returncode == 2 and "at least 4 characters" in short.stderr


def test_outbound_runs_are_created_from_leads_or_a_csv_listed_shown_and_cancelled(
    api_url, business, tmp_path: Path
) -> None:
    lead_ids = [rows.lead(business.id).id for _ in range(2)]
    by_id = cli(
        api_url, business, "outbound", "create", "--name", "Check-ups",
        "--lead-id", str(lead_ids[0]), "--lead-id", str(lead_ids[1]), "--json",
    )  # fmt: skip
    first = json_of(by_id)
    assert (first["name"], first["status"], first["total"]) == ("Check-ups", "draft", 2)
    phones = ["+15554100001", "+15554100002", "+15554100003"]
    private_data.register(*phones)
    path = tmp_path / "spring.csv"
    path.write_text("phone,name\n" + "".join(f"{p},Lead {p[-1]}\n" for p in phones))
    from_csv = cli(api_url, business, "outbound", "create", "--name", "Spring", "--csv", str(path))
    assert from_csv.returncode == 0, from_csv.stderr
    assert "(3 leads)" in from_csv.stdout
    runs = json_of(cli(api_url, business, "outbound", "list", "--json"))
    assert [run["name"] for run in runs] == ["Spring", "Check-ups"]
    spring = runs[0]["id"]
    status = json_of(cli(api_url, business, "outbound", "status", str(spring), "--json"))
    assert sorted(item["phone"] for item in status["items"]) == phones
    table = cli(api_url, business, "outbound", "status", str(spring))
    assert f"run {spring} Spring" in table.stdout and all(p in table.stdout for p in phones)
    cancelled = cli(api_url, business, "outbound", "cancel", str(spring))
    assert cancelled.returncode == 0 and f"run {spring} is cancelled" in cancelled.stdout
    again = cli(api_url, business, "outbound", "cancel", str(spring), "--json")
    assert again.returncode == 2 and again.stdout == "" and "409" in again.stderr


def test_outbound_create_says_how_to_start_the_run_as_a_command_to_paste(api_url, business):
    lead_id = rows.lead(business.id).id
    created = cli(
        api_url, business, "outbound", "create", "--name", "One", "--lead-id", str(lead_id)
    )
    assert created.returncode == 0, created.stderr
    run_id = json_of(cli(api_url, business, "outbound", "list", "--json"))[0]["id"]
    assert created.stdout.strip() == (
        f"run {run_id} created (1 lead); start it: switchboard outbound start {run_id}"
    )


def test_outbound_create_wants_lead_ids_or_a_csv_but_not_both(api_url, business, tmp_path):
    neither = cli(api_url, business, "outbound", "create", "--name", "X")
    both = cli(
        api_url, business, "outbound", "create", "--name", "X", "--lead-id", "1",
        "--csv", str(tmp_path / "x.csv"),
    )  # fmt: skip
    for result in (neither, both):
        assert result.returncode == 2 and "--lead-id" in result.stderr and result.stdout == ""
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("phone\n12345\n")
    refused = cli(api_url, business, "outbound", "create", "--name", "X", "--csv", str(bad_csv))
    assert refused.returncode == 2 and f"{bad_csv}:2: field 'phone'" in refused.stderr


def test_leads_and_calls_are_listed_with_the_api_filters(api_url, business) -> None:
    hot = rows.lead(business.id, name="Hot Lead", status="qualified")
    rows.lead(business.id, name="Cold Lead")
    qualified = json_of(cli(api_url, business, "leads", "list", "--status", "qualified", "--json"))
    assert [lead["id"] for lead in qualified] == [hot.id]
    table = cli(api_url, business, "leads", "list", "-q", "Hot")
    assert hot.phone in table.stdout and "Cold Lead" not in table.stdout
    outbound = rows.call(business.id, direction="outbound", lead_id=hot.id)
    rows.call(business.id)
    listed = json_of(cli(api_url, business, "calls", "list", "--direction", "outbound", "--json"))
    assert [call["call_sid"] for call in listed] == [outbound.call_sid]
    calls = cli(api_url, business, "calls", "list")
    assert calls.returncode == 0 and outbound.call_sid in calls.stdout
    shown = cli(api_url, business, "calls", "show", str(outbound.id))
    assert outbound.call_sid in shown.stdout and "agent: Hello!" in shown.stdout
    empty = cli(api_url, business, "calls", "list", "--status", "ringing", "--json")
    assert json_of(empty) == []


def test_erasures_are_requested_listed_and_shown_without_the_number(api_url, business) -> None:
    phone = "+15554100090"
    private_data.register(phone)
    requested = cli(api_url, business, "erasures", "request", phone)
    assert requested.returncode == 0, requested.stderr
    [erasure] = json_of(cli(api_url, business, "erasures", "list", "--json"))
    assert requested.stdout.strip() == (
        f"erasure {erasure['id']} requested; follow it: switchboard erasures show {erasure['id']}"
    )
    again = json_of(cli(api_url, business, "erasures", "request", phone, "--json"))
    assert (again["id"], again["repeated"]) == (erasure["id"], True)
    with tenant_session(business.id) as session:  # as the job leaves it
        session.execute(
            update(Erasure)
            .where(Erasure.id == erasure["id"])
            .values(status="done", phone=None, counts={"leads": 1, "calls": 2})
        )
    shown = cli(api_url, business, "erasures", "show", str(erasure["id"]))
    assert shown.returncode == 0, shown.stderr
    assert f"erasure {erasure['id']}" in shown.stdout and "done" in shown.stdout
    assert "erased calls" in shown.stdout and "2" in shown.stdout
    table = cli(api_url, business, "erasures", "list")
    assert table.returncode == 0 and str(erasure["id"]) in table.stdout
    assert " 3 " in table.stdout  # erased, all kinds
    for result in (requested, shown, table):
        assert phone not in result.stdout + result.stderr
        assert phone[1:] not in result.stdout + result.stderr


def test_an_erasure_of_a_bad_number_or_another_business_s_is_an_error(api_url, business):
    bad = cli(api_url, business, "erasures", "request", "555-1234")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "422" in bad.stderr and "phone" in bad.stderr
    private_data.register("+15554100091")
    theirs = json_of(cli(api_url, make_business(), "erasures", "request", "+15554100091", "--json"))
    foreign = cli(api_url, business, "erasures", "show", str(theirs["id"]))
    assert foreign.returncode == 2 and "404" in foreign.stderr and foreign.stdout == ""
