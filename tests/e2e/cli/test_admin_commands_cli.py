"""``switchboard leads|jobs|outbound`` against a real API process, over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from switchboard.cli.main import app
from switchboard.common.db import tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.models import Erasure
from switchboard.common.settings import Settings
from switchboard.domain.erasures.requests import phone_hash
from switchboard.domain.leads.store import LeadFilter, list_leads
from tests.support import actors, private_data
from tests.support.api_server import running_api, shared_sqlite
from tests.support.factories import TestBusiness, make_business
from tests.support.processes import ROOT, service_env
from tests.support.waiting import wait_for
from tests.unit.api import rows

pytestmark = pytest.mark.e2e
runner = CliRunner()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path]]:
    directory = tmp_path_factory.mktemp("cli")
    with shared_sqlite(directory) as settings:
        yield settings, directory


@pytest.fixture(scope="module")
def api_url(database: tuple[Settings, Path]) -> Iterator[str]:
    with running_api(*database) as url:
        yield url


@pytest.fixture
def business(api_url: str) -> TestBusiness:
    return make_business()


def cli(api_url: str, business: TestBusiness, *args: str):
    env = {"API_BASE_URL": api_url, "SWITCHBOARD_API_KEY": business.api_key}
    return runner.invoke(app, list(args), env=env)


def test_leads_import_uploads_a_big_file_whole(api_url, business, tmp_path) -> None:
    leads = [(f"+1555300{n:04d}", f"Lead {n}", f"lead{n}@example.com") for n in range(450)]
    private_data.register(*(value for lead in leads for value in lead))
    lines = ["phone,name,email"] + [",".join(lead) for lead in leads]
    path = tmp_path / "leads.csv"
    path.write_text("\n".join(lines) + "\n")
    result = cli(api_url, business, "leads", "import", str(path))
    assert result.exit_code == 0, result.output
    assert f"{path}: 450 created, 0 updated" in result.stdout
    assert len(list_leads(business.id, LeadFilter(), limit=200).items) == 200
    again = cli(api_url, business, "leads", "import", str(path))
    assert "0 created, 450 updated" in again.stdout


def test_a_row_the_api_refuses_late_in_a_big_file_imports_none_of_it(
    api_url, business, tmp_path
) -> None:
    """A row only the API can refuse (its number is being erased) on line 432 of 450: the
    command's import is the API's, all rows or none, so none of the 430 before it is kept
    (in chunks of 200, the first 400 were)."""
    leads = [(f"+1555310{n:04d}", f"Lead {n}") for n in range(450)]
    private_data.register(*(value for lead in leads for value in lead))
    erased = leads[430][0]
    with tenant_session(business.id) as session:  # pending: no worker runs its job here
        session.add(
            Erasure(
                business_id=business.id,
                phone=erased,
                phone_hash=phone_hash(business.id, erased),
                counts={},
            )
        )
    path = tmp_path / "leads.csv"
    path.write_text("phone,name\n" + "".join(f"{phone},{name}\n" for phone, name in leads))
    result = cli(api_url, business, "leads", "import", str(path))
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"{path}:432: field 'phone': the number is being erased" in said
    assert said.endswith(f"{path}: nothing imported (1 error)")
    assert erased not in result.output
    assert list_leads(business.id, LeadFilter(), limit=10).items == []


def test_leads_import_names_the_file_line_and_field_and_imports_nothing(
    api_url, business, tmp_path
) -> None:
    path = tmp_path / "bad.csv"
    private_data.register("+15553100001", "+15553100002")
    path.write_text("phone,name,email\n+15553100001,Ann,\n12345,Bob,\n+15553100002,Cy,nope\n")
    result = cli(api_url, business, "leads", "import", str(path))
    assert result.exit_code == 2
    assert f"{path}:3: field 'phone'" in result.output
    assert f"{path}:4: field 'email'" in result.output
    assert list_leads(business.id, LeadFilter(), limit=10).items == []


def test_leads_import_explains_a_missing_file_a_bad_key_and_a_wrong_url(
    api_url, business, tmp_path
) -> None:
    missing = cli(api_url, business, "leads", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "nope.csv: no such file" in missing.output
    path = tmp_path / "ok.csv"
    path.write_text("phone\n+15553200001\n")
    bad_key = runner.invoke(
        app, ["leads", "import", str(path), "--api-url", api_url, "--api-key", "sbk_wrong"]
    )
    assert bad_key.exit_code == 2 and "API key was refused" in bad_key.output
    nowhere = runner.invoke(
        app, ["leads", "import", str(path), "--api-url", "http://127.0.0.1:9", "--api-key", "k"]
    )
    assert nowhere.exit_code == 1 and "cannot reach the API at http://127.0.0.1:9" in nowhere.output


def test_jobs_list_cancel_and_retry(api_url, business) -> None:
    job_id = enqueue(actors.NOOP, business_id=business.id).job_id
    listed = cli(api_url, business, "jobs", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [job["id"] for job in json.loads(listed.stdout)] == [job_id]
    assert f"job {job_id} is cancelled" in cli(api_url, business, "jobs", "cancel", job_id).stdout
    assert f"job {job_id} is queued" in cli(api_url, business, "jobs", "retry", job_id).stdout
    twice = cli(api_url, business, "jobs", "retry", job_id)
    assert twice.exit_code == 2 and "409" in twice.output and "queued" in twice.output
    bad = cli(api_url, business, "jobs", "list", "--status", "exploded")
    assert bad.exit_code == 2 and "--status" in bad.output


def test_outbound_start_follows_the_run_to_its_end(api_url, business, database) -> None:
    headers = {"Authorization": f"Bearer {business.api_key}"}
    lead_ids = [rows.lead(business.id).id for _ in range(3)]
    created = httpx.post(
        f"{api_url}/api/v1/outbound-runs",
        json={"name": "Check-ups", "lead_ids": lead_ids},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    settings, _ = database
    env = service_env(
        database_url=settings.database_url,
        api_base_url=api_url,
        switchboard_api_key=business.api_key,
    )
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "switchboard.cli",
            "outbound",
            "start",
            str(run_id),
            "--follow",
            "--interval",
            "0.2",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: (
                httpx.get(f"{api_url}/api/v1/outbound-runs/{run_id}", headers=headers).json()[
                    "status"
                ]
                == "running"
            ),
            what="the command to start the run",
        )
        rows.advance_run(business.id, run_id, done=1, dialing=1)
        rows.advance_run(business.id, run_id, done=3, dialing=0)
        rows.finish_run(business.id, run_id)
        stdout, stderr = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, stderr
    assert f"run {run_id} is completed: 3 completed" in stdout
    again = cli(api_url, business, "outbound", "start", str(run_id))
    assert again.exit_code == 2 and "409" in again.output
