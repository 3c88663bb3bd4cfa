"""The admin commands' exit codes (``switchboard.cli.exit_codes``), the CLI as a process
against a real API process: the caller's mistake exits 2 whether the CLI refuses it before
sending or the API answers a 4xx (before, the API's 4xx exited 1), the operation failing
exits 1; either way one line on stderr, nothing on stdout."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from switchboard.cli.exit_codes import FAILED, REFUSED, for_status
from switchboard.common.jobs import enqueue
from tests.support import actors
from tests.support.api_server import running_api, shared_sqlite
from tests.support.factories import TestBusiness, make_business
from tests.support.processes import run_cli, service_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("cli-exit-codes")
    with shared_sqlite(directory) as settings, running_api(settings, directory) as url:
        yield url


def cli(api_url: str, api_key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=service_env(api_base_url=api_url, switchboard_api_key=api_key))


def _queued_job(business: TestBusiness) -> str:
    return enqueue(actors.NOOP, business_id=business.id).job_id


#: (what is wrong, the command for a business, who catches it, a word the one line holds)
MISTAKES: list[tuple[str, Callable[[TestBusiness], list[str]], str]] = [
    ("an unknown status", lambda _: ["jobs", "list", "--status", "exploded"], "--status"),
    ("a job id prefix too short", lambda _: ["jobs", "show", "3f2"], "at least 4"),
    ("no job by that prefix", lambda _: ["jobs", "show", "dead00"], "no job has an id"),
    ("a number not in E.164 (422)", lambda _: ["erasures", "request", "555-1234"], "422"),
    ("no call by that id (404)", lambda _: ["calls", "show", "999999999"], "404"),
    ("no job by that id (404)", lambda _: ["jobs", "show", str(uuid.uuid4())], "404"),
    ("a retry of a queued job (409)", lambda b: ["jobs", "retry", _queued_job(b)], "409"),
    (
        "a calling window that is no time (422)",
        lambda b: ["outbound", "create", "--name", "x", "--lead-id", "1", "--window-start", "25"],
        "422",
    ),
]


@pytest.mark.parametrize(
    ("command", "said"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_the_callers_mistake_exits_2_whoever_catches_it(
    api_url: str, command: Callable[[TestBusiness], list[str]], said: str
) -> None:
    business = make_business()
    result = cli(api_url, business.api_key, *command(business))
    assert result.returncode == REFUSED, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert said in result.stderr


def test_a_key_refused_exits_2_and_an_api_out_of_reach_exits_1(api_url: str) -> None:
    refused = cli(api_url, "sbk_wrong", "calls", "list", "--json")
    assert refused.returncode == REFUSED and refused.stdout == ""
    assert refused.stderr.strip() == (
        "error: the API key was refused (check --api-key / SWITCHBOARD_API_KEY)"
    )
    nowhere = cli("http://127.0.0.1:9", "sbk_unused", "calls", "list", "--json")
    assert nowhere.returncode == FAILED and nowhere.stdout == ""
    [line] = nowhere.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the API at http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 2), (401, 2), (403, 2), (404, 2), (409, 2), (422, 2), (429, 1), (500, 1), (503, 1)],
)
def test_an_api_error_status_maps_to_one_exit_code(status: int, code: int) -> None:
    assert for_status(status) == code
