"""Naming a job by a prefix of its id: one match is the job, none or several a clear error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import typer
from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.cli.api_client import ApiClient
from switchboard.cli.jobs_cmd import job_path, resolve_job_id
from switchboard.common.jobs import enqueue
from switchboard.common.settings import Settings
from tests.support import actors
from tests.support.factories import TestBusiness, make_business


@pytest.fixture
def business(embedded: Settings) -> TestBusiness:
    return make_business()


@pytest.fixture
def api(embedded: Settings, business: TestBusiness) -> Iterator[ApiClient]:
    """The CLI's client talking to the real API app in this process."""
    with TestClient(create_app(embedded)) as http:
        yield ApiClient("http://testserver", business.api_key, http=http)


def job_starting_with(business: TestBusiness, prefix: str) -> str:
    job_id = prefix + str(uuid.uuid4())[len(prefix) :]
    return enqueue(actors.NOOP, business_id=business.id, job_id=job_id).job_id


def exit_code_and_error(capsys, api: ApiClient, given: str) -> tuple[int, str]:
    with pytest.raises(typer.Exit) as stopped:
        resolve_job_id(api, given)
    # The API runs in this process: its access lines share stderr with the CLI's message.
    printed = capsys.readouterr().err
    message = printed[printed.index("error:") :] if "error:" in printed else printed
    return stopped.value.exit_code, " ".join(message.split())


def test_a_unique_prefix_in_either_case_names_the_job(api, business) -> None:
    job_id = job_starting_with(business, "ab12cd")
    job_starting_with(business, "ab99")
    assert resolve_job_id(api, "ab12") == job_id
    assert resolve_job_id(api, "AB12CD") == job_id


def test_a_full_id_or_a_chosen_non_hex_id_is_used_as_it_is(api) -> None:
    full = str(uuid.uuid4())
    assert resolve_job_id(api, full) == full
    assert resolve_job_id(api, "nightly-report") == "nightly-report"


def test_a_prefix_of_several_jobs_lists_them_and_exits_2(capsys, api, business) -> None:
    first, second = job_starting_with(business, "cafe1"), job_starting_with(business, "cafe2")
    code, error = exit_code_and_error(capsys, api, "cafe")
    assert code == 2
    assert "'cafe' is the start of several job ids" in error and "give more characters" in error
    assert first in error and second in error


def test_a_prefix_of_no_job_exits_2_naming_it(capsys, api) -> None:
    code, error = exit_code_and_error(capsys, api, "dead00")
    assert (code, error) == (2, "error: no job has an id starting with 'dead00'")


def test_another_business_job_is_not_found_by_its_prefix(capsys, api) -> None:
    job_starting_with(make_business(), "beef42")
    code, error = exit_code_and_error(capsys, api, "beef42")
    assert (code, error) == (2, "error: no job has an id starting with 'beef42'")


def test_a_prefix_shorter_than_four_characters_is_a_usage_error(capsys, api) -> None:
    code, error = exit_code_and_error(capsys, api, "3f2")
    assert code == 2 and "too short: give at least 4 characters" in error


def test_an_empty_job_id_is_refused_before_anything_is_sent(capsys, api) -> None:
    """Before, ``jobs show ''`` asked for /api/v1/jobs/, whose redirect ended the command with
    exit 1 saying the --api-url was not the API's."""
    code, error = exit_code_and_error(capsys, api, "")
    assert (code, error) == (
        2,
        "error: the job id is empty: give the job's id or 4+ characters of it",
    )


@pytest.mark.parametrize("given", ["../calls", "../calls?", "..", "x/../../calls#"])
def test_a_job_id_holding_a_path_names_no_other_path_of_the_api(capsys, api, given) -> None:
    """Before, the id went into the URL as it was: ``jobs show ../calls`` fetched the call list
    (and crashed printing it as a job); ``jobs retry ../outbound-runs/1/start?`` started run 1."""
    with pytest.raises(typer.Exit) as stopped:
        api.call("GET", job_path(api, given))
    assert stopped.value.exit_code == 2
    assert "→ 404" in capsys.readouterr().err


@pytest.mark.parametrize("prefix", ["3f2", "zzzz", "3f2a%", "3f2a" * 10])
def test_jobs_list_refuses_a_bad_id_prefix_as_show_does_exit_2_naming_the_option(
    prefix: str,
) -> None:
    """Before, the prefix went to the API, whose 422 ended the command with exit 1, unlike
    ``jobs show 3f2`` (a usage error, 2)."""
    from typer.testing import CliRunner

    from switchboard.cli.main import app

    nowhere = ["--api-url", "http://127.0.0.1:1", "--api-key", "sbk_unused"]
    result = CliRunner().invoke(app, ["jobs", "list", "--id-prefix", prefix, *nowhere])
    assert result.exit_code == 2, result.output
    assert "--id-prefix" in result.output and "hex digits" in result.output


def test_json_is_described_for_commands_that_print_a_line_too() -> None:
    from typer.testing import CliRunner

    from switchboard.cli.main import app

    for command in (["jobs", "retry"], ["jobs", "cancel"], ["outbound", "start"]):
        output = CliRunner().invoke(app, [*command, "--help"]).output.replace("│", " ")
        shown = " ".join(output.split())
        assert "instead of a table" not in shown, command
        assert "Print the result as JSON on stdout instead of text for people" in shown


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("nightly\x1b[2J", "nightly\\x1b[2J"),
        ("a\x9b31mb", "a\\x9b31mb"),
        ("x\nerror: y", "x\\x0aerror: y"),
    ],
    ids=["ESC", "C1 CSI", "a line end"],
)
def test_a_control_character_the_api_echoes_in_an_error_is_written_out(
    capsys, api, given: str, shown: str
) -> None:
    """The API's 404 quotes the id given: an ESC sequence in it was printed as it was, and
    drove the operator's terminal (a newline made a second ``error:`` line)."""
    with pytest.raises(typer.Exit) as stopped:
        api.call("GET", job_path(api, given))
    printed = capsys.readouterr().err
    said = printed[printed.index("error:") :]
    assert stopped.value.exit_code == 2
    assert said == f"error: GET /api/v1/jobs/{shown} → 404: job {shown} not found\n"
