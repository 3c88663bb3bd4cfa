"""What a newcomer reads: errors in one line, help that lists what exists."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from switchboard.cli.api_client import ApiClient
from switchboard.cli.main import GROUPS, app
from switchboard.common.settings import Settings

runner = CliRunner()


def one_line(output: str) -> str:
    return " ".join(output.split())


def unreachable_url() -> str:
    """A local address nobody listens on (bound, never listening, so nothing else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_call_to_a_gateway_out_of_reach_ends_in_one_line(embedded: Settings) -> None:
    url = unreachable_url()
    result = runner.invoke(app, ["simulate-call", "--to", "+15550000000", "--gateway-url", url])
    assert result.exit_code == 1
    assert one_line(result.output) == (
        f"error: cannot reach the gateway at {url} (check --gateway-url / PUBLIC_BASE_URL)"
    )


def test_the_simulators_do_not_log_each_http_request(embedded: Settings) -> None:
    url = unreachable_url()
    runner.invoke(app, ["simulate-call", "--to", "+15550000000", "--gateway-url", url])
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)


def test_a_run_needs_exactly_one_source_of_leads() -> None:
    result = runner.invoke(app, ["outbound", "create", "--name", "x", "--api-key", "sbk_x"])
    assert result.exit_code == 2
    assert "give exactly one of --lead-id (one or more) or --csv" in one_line(result.output)


def test_group_help_names_the_commands_there_are() -> None:
    outbound = one_line(runner.invoke(app, ["outbound", "--help"]).output)
    assert "create, list, start (--follow), status, cancel" in outbound
    jobs = one_line(runner.invoke(app, ["jobs", "--help"]).output)
    assert "retry failed, dead and cancelled ones" in jobs


def test_the_root_help_lists_every_command_once() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    listed = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ ")]
    services = ["run", "api", "gateway", "scheduler", "worker", "migrate"]
    simulators = ["simulate-call", "simulate-whatsapp", "create-business"]
    assert listed[listed.index("run") :] == [*services, *simulators, *GROUPS]
    assert "Act as Twilio: post a signed inbound WhatsApp message" in result.output


def _every_command_path() -> list[list[str]]:
    """Every command and group as typed after ``switchboard``, the lazy groups' too."""
    root: Any = typer.main.get_command(app)
    context = root.context_class(root)
    paths: list[list[str]] = [[]]
    for name in root.list_commands(context):
        paths.append([name])
        command = root.get_command(context, name)
        if hasattr(command, "list_commands"):  # a group
            paths += [[name, sub] for sub in command.list_commands(context)]
    return paths


def test_no_help_shows_the_docstrings_markup() -> None:
    """The help is read on a terminal: ``--json`` printed with its reST backticks (keys
    revoke, events replay) read as noise."""
    shown = {
        " ".join(path): runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
        for path in _every_command_path()
    }
    assert len(shown) > 30 and all("Usage:" in text for text in shown.values())
    assert [path for path, text in shown.items() if "``" in text] == []


def test_the_services_commands_load_no_admin_group() -> None:
    """``switchboard worker`` (and the other services) starts without importing the admin
    groups, the simulators or the table printer: they load when one of their commands runs."""
    code = (
        "import sys, switchboard.cli.main as m; "
        "m.app(['worker', '--help'], standalone_mode=False); "
        "print(' '.join(sorted(n for n in sys.modules if n.startswith('switchboard.cli.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1].split() == ["switchboard.cli.main"]


def test_a_group_loaded_on_use_runs_its_commands() -> None:
    result = runner.invoke(app, ["leads", "list", "--api-key", "sbk_x", "--api-url", "bad"])
    assert result.exit_code == 2
    assert one_line(result.output) == (
        "error: bad is not a URL: it needs http:// or https:// (check --api-url / API_BASE_URL)"
    )


def test_grant_app_role_help_is_one_paragraph_the_terminal_wraps() -> None:
    result = runner.invoke(app, ["db", "grant-app-role", "--help"], env={"COLUMNS": "120"})
    assert (
        "Runs as MIGRATION_DATABASE_URL (else DATABASE_URL), the tables' owner, on PostgreSQL. "
        "It refuses a superuser"
    ) in result.output


def test_a_phone_that_is_not_e164_is_refused_in_words(embedded: Settings) -> None:
    result = runner.invoke(app, ["create-business", "--name", "Acme", "--phone", "555"])
    assert result.exit_code == 2
    assert one_line(result.output) == (
        "error: --phone: is not a phone number in E.164 form (+15551234567)"
    )


def test_an_api_that_takes_too_long_is_not_called_out_of_reach(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A replay of many parked events can outlast the client's timeout while the API goes on
    with it: the message says so instead of "cannot reach the API (check --api-url)"."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # accepts the connection, never answers
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        with ApiClient(url, "sbk_unused", timeout=0.3) as api, pytest.raises(typer.Exit) as ended:
            api.call("POST", "/api/v1/admin/parked-events/replay")
    assert ended.value.exit_code == 1
    assert one_line(capsys.readouterr().err) == (
        f"error: the API at {url} did not answer POST /api/v1/admin/parked-events/replay "
        "within 0.3 s; it may still be doing it: check before trying again"
    )


def another_server(status: int, body: bytes, content_type: str, **headers: str) -> httpx.Client:
    """A client whose every request is answered by a server that is not the API (a web
    server's page, a redirect to https): the answer a mistaken --api-url gets."""
    answer = httpx.Response(status, content=body, headers={"content-type": content_type, **headers})
    transport = httpx.MockTransport(lambda request: answer)
    return httpx.Client(transport=transport, base_url="http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("server", "said"),
    [
        (
            another_server(200, b"<html>Welcome</html>", "text/html"),
            "GET /api/v1/calls → 200, not JSON: is --api-url the Switchboard API's address?",
        ),
        (
            another_server(301, b"", "text/html", location="https://example.test/api/v1/calls"),
            "GET /api/v1/calls → 301, sent on to https://example.test/api/v1/calls: "
            "is --api-url the Switchboard API's address?",
        ),
        (
            another_server(200, b'{"status": "ok"}', "application/json"),
            "GET /api/v1/calls: the answer is not a page of items: "
            "is --api-url the Switchboard API's address?",
        ),
        (
            another_server(404, b"<!DOCTYPE html>\n<html>\n<h1>Not here</h1>", "text/html"),
            "GET /api/v1/calls → 404: an HTML page: is --api-url the Switchboard API's address?",
        ),
        (
            another_server(404, b"Not Found", "text/plain"),
            "GET /api/v1/calls → 404: Not Found: is --api-url the Switchboard API's address?",
        ),
    ],
    ids=["a web page", "a redirect", "other JSON", "an error page", "a line of text"],
)
def test_a_url_that_is_not_the_api_ends_in_one_line_without_a_traceback(
    capsys: pytest.CaptureFixture[str], server: httpx.Client, said: str
) -> None:
    with ApiClient("http://127.0.0.1:9", "sbk_unused", http=server) as api:
        with pytest.raises(typer.Exit) as ended:
            api.items("/api/v1/calls", {}, 50)
    assert ended.value.exit_code == 1
    assert one_line(capsys.readouterr().err) == f"error: {said}"


def test_a_command_sent_to_the_gateway_s_port_asks_whether_it_is_the_api(
    embedded: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gateway answers a path it has no route for as the API would, JSON and all: the
    command said "404: Not Found", exit 2, without the hint other servers' answers get."""
    from fastapi.testclient import TestClient

    from switchboard.voice_gateway.app import create_app

    with TestClient(create_app(embedded, warm_up=False)) as gateway:
        with ApiClient("http://testserver", "sbk_unused", http=gateway) as api:
            with pytest.raises(typer.Exit) as ended:
                api.items("/api/v1/leads", {}, 50)
    printed = capsys.readouterr().err
    assert ended.value.exit_code == 2
    assert one_line(printed[printed.index("error:") :]) == (
        "error: GET /api/v1/leads → 404: Not Found: is --api-url the Switchboard API's address?"
    )


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"detail": "Not Found"}', "Not Found: is --api-url the Switchboard API's address?"),
        (
            b'{"code": "not_found", "detail": "call 7 not found"}',
            "call 7 not found",  # the API's own: what it did not find, no hint
        ),
    ],
    ids=["another app's JSON", "the API's"],
)
def test_only_a_404_that_is_not_the_api_s_own_asks_whether_it_is_the_api(
    capsys: pytest.CaptureFixture[str], body: bytes, said: str
) -> None:
    with ApiClient(
        "http://127.0.0.1:9", "sbk_unused", http=another_server(404, body, "application/json")
    ) as api:
        with pytest.raises(typer.Exit) as ended:
            api.call("GET", "/api/v1/calls/7")
    assert ended.value.exit_code == 2
    assert one_line(capsys.readouterr().err) == f"error: GET /api/v1/calls/7 → 404: {said}"


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_leads_file_separated_otherwise_than_by_commas_is_named_so(
    tmp_path: Path, separator: str, name: str
) -> None:
    """A spreadsheet in a locale with a decimal comma saves "CSV" with semicolons: the header
    is then one unknown column, and "no 'phone' column" alone left the reason to guess."""
    path = tmp_path / "leads.csv"
    path.write_text(f"phone{separator}name\n+15550001001{separator}Ada\n", encoding="utf-8")
    result = runner.invoke(app, ["leads", "import", str(path), "--api-key", "sbk_unused"])
    assert result.exit_code == 2
    said = one_line(result.output)
    assert (
        f"{path}:1: field 'phone': the header has no 'phone' column "
        f"(the file is separated by {name}: save it as comma-separated CSV)"
    ) in said
    assert said.endswith(f"{path}: nothing imported (2 errors)")


@pytest.mark.parametrize(
    ("command", "option"),
    [(["leads", "import"], "'file'"), (["outbound", "create", "--name", "x", "--csv"], "'--csv'")],
    ids=["leads import", "outbound create --csv"],
)
@pytest.mark.parametrize("given", ["", " ", "directory"])
def test_an_empty_path_or_a_directory_for_the_csv_is_a_usage_error_naming_it(
    tmp_path: Path, command: list[str], option: str, given: str
) -> None:
    """Before, ``leads import ""`` read ``.`` and said ".: Is a directory"."""
    path = str(tmp_path) if given == "directory" else given
    url = unreachable_url()  # nothing is sent: were it, the error would be "cannot reach"
    result = runner.invoke(
        app, [*command, path, "--api-url", url, "--api-key", "sbk_x"], prog_name="switchboard"
    )
    assert result.exit_code == 2, result.output
    reason = (
        f"{path} is a directory: give a CSV file"
        if path.strip()
        else ("the path is empty: give the CSV file's")
    )
    where = " ".join(command[:2])
    assert one_line(result.output) == (
        f"error: Invalid value for {option}: {reason} (switchboard {where} --help)"
    )


@pytest.mark.parametrize(
    "command", [["leads", "import"], ["outbound", "create", "--name", "x", "--csv"]]
)
def test_a_leads_file_of_a_header_alone_is_refused_as_the_api_refuses_it(
    tmp_path: Path, command: list[str]
) -> None:
    """``leads import`` of a header alone said "0 created, 0 updated", exit 0, where the
    console's run from the same file is refused: the parser's rule now, so the API's too."""
    path = tmp_path / "leads.csv"
    path.write_text("phone,name\n", encoding="utf-8")
    url = unreachable_url()  # nothing is sent: were it, the error would be "cannot reach"
    result = runner.invoke(app, [*command, str(path), "--api-url", url, "--api-key", "sbk_x"])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == (
        f"error: {path}:2: field 'file': no leads under the header: add a line per number "
        f"{path}: nothing imported (1 error)"
    )


def test_a_leads_file_of_many_bad_lines_says_where_its_reading_stopped(tmp_path: Path) -> None:
    """The first 20 of 1,001 errors were shown: the last, that the parse stopped at line
    1001, sat behind "… and 981 more errors"."""
    path = tmp_path / "leads.csv"
    path.write_text("phone\n" + "x\n" * 2_000, encoding="utf-8")
    result = runner.invoke(app, ["leads", "import", str(path), "--api-key", "sbk_unused"])
    assert result.exit_code == 2, result.output
    said = one_line(result.output)
    assert said.count("error: ") == 20 and said.startswith(f"error: {path}:2: field 'phone':")
    assert said.endswith(
        f"{path}:20: field 'phone': 'x' is not a phone number in E.164 form (+15551234567) "
        f"error: {path}:1001: field 'file': more than 1000 errors: stopped reading here; "
        f"correct these first … and 981 more errors {path}: nothing imported (1001 errors)"
    )


def test_a_leads_file_over_the_api_s_size_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    """The API imports a file of up to 5 MB whole; the command sends the file whole, so a
    larger one is refused here, as the API would, with nothing imported."""
    path = tmp_path / "leads.csv"
    notes = "n" * 6000
    rows = "".join(f"+1555{n:07d},{notes}\n" for n in range(1000))
    path.write_text("phone,notes\n" + rows, encoding="utf-8")
    url = unreachable_url()  # reached, it would be "cannot reach the API"
    result = runner.invoke(
        app, ["leads", "import", str(path), "--api-url", url, "--api-key", "sbk_unused"]
    )
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == (
        f"error: {path}:1: field 'file': larger than 5 MB: split the file "
        f"{path}: nothing imported (1 error)"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--api-port", "70000"],
        ["run", "--gateway-port", "-1"],
        ["run", "--scheduler-port", "0"],
        ["api", "--port", "65536"],
        ["gateway", "--port", "-5"],
        ["scheduler", "--port", "99999"],
        ["run", "--threads", "0"],
        ["api", "--workers", "0"],
        ["worker", "--processes", "0"],
        ["worker", "--threads", "-1"],
    ],
)
def test_a_port_or_count_out_of_range_is_a_usage_error_before_anything_starts(
    args: list[str],
) -> None:
    """Before, ``run --api-port 70000`` migrated the database, then died in bind() with a
    traceback (and a negative port in getaddrinfo); ``run`` with port 0 printed a banner of
    http://127.0.0.1:0 URLs; ``run --threads 0`` came up with no worker thread, so no job
    ever ran, and ``--threads -1`` with a worker thread's traceback."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{args[1]}'" in one_line(result.output)


def test_a_leads_file_quoting_rich_markup_is_reported_as_written(tmp_path: Path) -> None:
    """The errors quote the file: "[/x]" as a phone ended the report in a MarkupError."""
    path = tmp_path / "[b]leads.csv"
    path.write_text("phone,name\n[/x],Ada\n", encoding="utf-8")
    result = runner.invoke(app, ["leads", "import", str(path), "--api-key", "sbk_unused"])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == (
        f"error: {path}:2: field 'phone': '[/x]' is not a phone number in E.164 form "
        f"(+15551234567) {path}: nothing imported (1 error)"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["calls", "list", "--direction", "x", "--api-key", "sbk_x"],
            "error: Invalid value for --direction: must be inbound or outbound "
            "(switchboard calls list --help)",
        ),
        (
            ["jobs", "list", "--bogus"],
            "error: No such option: --bogus (switchboard jobs list --help)",
        ),
        (
            ["erasures", "show", "abc"],
            "error: Invalid value for 'erasure_id': Input should be a valid integer, unable to "
            "parse string as an integer (switchboard erasures show --help)",
        ),
        (["simulate-call"], "error: Missing option '--to'. (switchboard simulate-call --help)"),
        (["--bogus"], "error: No such option: --bogus (switchboard --help)"),
        (["jobz"], "error: No such command 'jobz'. (switchboard --help)"),
    ],
)
def test_a_usage_error_is_one_line_too(args: list[str], said: str) -> None:
    """docs/cli.md: every error is one line, ``error: …``; a usage error was a box of rich
    text over five lines, the help's usage line above it."""
    result = runner.invoke(app, args, prog_name="switchboard")
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and one_line(result.output) == said


def test_events_replay_help_shows_its_json_whole() -> None:
    """Rich read ``[event ids]`` in the help as a markup tag and dropped it."""
    result = runner.invoke(app, ["events", "replay", "--help"], terminal_width=200)
    assert '{"replayed": ["<event id>", …], "failed": [{"event_id", "error"}]' in one_line(
        result.output
    )


def test_create_business_quotes_a_bad_value_as_written_on_one_line() -> None:
    """The time zone is quoted back: "[/x]" was read as rich markup (a MarkupError traceback,
    exit 0), and a long message wrapped at 80 columns."""
    for zone in ("[/x]", "Mars/" + "Olympus" * 8):
        result = runner.invoke(
            app, ["create-business", "--name", "QA", "--phone", "+15550009998", "--timezone", zone]
        )
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1, result.output
        assert result.output.startswith(
            f"error: --timezone: Value error, unknown time zone '{zone}'"
        )


@pytest.mark.parametrize("to", ["123", "+1 555 000 0000", "whatsapp:+15550000000"])
def test_simulate_call_refuses_a_number_that_is_not_e164_before_calling(to: str) -> None:
    """It was sent as it was: the gateway took it for a number nobody answers, and the command
    said "rejected … not connected to an assistant", exit 1 (try again later)."""
    url = unreachable_url()  # nothing is called: were it, the error would be "cannot reach"
    result = runner.invoke(
        app, ["simulate-call", "--to", to, "--gateway-url", url], prog_name="switchboard"
    )
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == (
        "error: Invalid value for --to: is not a phone number in E.164 form (+15551234567) "
        "(switchboard simulate-call --help)"
    )


@pytest.mark.parametrize("group", list(GROUPS))
def test_a_group_alone_shows_its_help_as_the_command_alone_does(group: str) -> None:
    """``switchboard jobs`` said "Missing command." where ``switchboard`` shows its help."""
    result = runner.invoke(app, [group], prog_name="switchboard")
    assert f"Usage: switchboard {group} [OPTIONS] COMMAND [ARGS]..." in one_line(result.output)
    assert "Missing command" not in result.output


@pytest.mark.parametrize("key", ["", " ", "sbk_secret\nrest", "sbk_secret\udcff", "sbk_clé"])
def test_an_api_key_that_cannot_be_sent_is_refused_unprinted(key: str) -> None:
    """Before, an empty key or one with a newline was "cannot reach the API … (check
    --api-url)", exit 1, quoting the key; a byte not UTF-8 in it was a traceback."""
    result = runner.invoke(app, ["leads", "list", "--api-key", key, "--api-url", unreachable_url()])
    assert result.exit_code == 2, result.output
    said = one_line(result.output)
    assert said.startswith("error: the API key is ") and "SWITCHBOARD_API_KEY" in said
    assert "secret" not in said and "Traceback" not in result.output


def test_a_password_in_the_api_url_is_not_printed() -> None:
    """Before, ``cannot reach the API at http://ops:hunter2@…`` printed it whole."""
    port = unreachable_url().rsplit(":", 1)[1]
    url = f"http://ops:hunter2@127.0.0.1:{port}"
    result = runner.invoke(app, ["leads", "list", "--api-key", "sbk_x", "--api-url", url])
    assert result.exit_code == 1
    said = one_line(result.output)
    assert "hunter2" not in said
    assert said.startswith(f"error: cannot reach the API at http://ops:***@127.0.0.1:{port}:")


def test_a_password_in_the_gateway_url_is_not_printed(embedded: Settings) -> None:
    port = unreachable_url().rsplit(":", 1)[1]
    url = f"http://ops:p@ss@127.0.0.1:{port}"
    result = runner.invoke(app, ["simulate-call", "--to", "+15550000000", "--gateway-url", url])
    assert result.exit_code == 1
    assert one_line(result.output) == (
        f"error: cannot reach the gateway at http://ops:***@127.0.0.1:{port} "
        "(check --gateway-url / PUBLIC_BASE_URL)"
    )


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:80x"])
@pytest.mark.parametrize(
    "command",
    [
        ["leads", "list", "--api-key", "sbk_x", "--api-url"],
        ["simulate-whatsapp", "--from", "+15557654321", "--body", "hi", "--api-url"],
        ["simulate-call", "--to", "+15550000000", "--gateway-url"],
    ],
    ids=["leads", "simulate-whatsapp", "simulate-call"],
)
def test_a_url_that_does_not_parse_is_one_line_exit_2(
    embedded: Settings, command: list[str], url: str
) -> None:
    """Before, httpx's InvalidURL (no transport error) ended these with a traceback."""
    result = runner.invoke(app, [*command, url])
    assert result.exit_code == 2, result.output
    said = one_line(result.output)
    assert said.startswith(f"error: {url} is not a URL: Invalid port:"), said
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("bad", "it needs http:// or https://"),
        ("localhost:8000", "it needs http:// or https://"),
        ("ftp://127.0.0.1", "it needs http:// or https://"),
        ("http://", "it names no host"),
    ],
)
@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["leads", "list", "--api-key", "sbk_x", "--api-url"], "--api-url / API_BASE_URL"),
        (
            ["simulate-whatsapp", "--from", "+15557654321", "--body", "hi", "--api-url"],
            "--api-url / API_PUBLIC_BASE_URL / API_BASE_URL",
        ),
        (
            ["simulate-call", "--to", "+15550000000", "--gateway-url"],
            "--gateway-url / PUBLIC_BASE_URL",
        ),
    ],
    ids=["leads", "simulate-whatsapp", "simulate-call"],
)
def test_a_url_without_http_or_a_host_is_a_usage_error(
    embedded: Settings, command: list[str], option: str, url: str, reason: str
) -> None:
    """Before, ``--api-url bad`` was sent as it was: "cannot reach the API at bad", exit 1 (try
    again later), where the URL given is the mistake."""
    result = runner.invoke(app, [*command, url])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == f"error: {url} is not a URL: {reason} (check {option})"


@pytest.mark.parametrize("wait", ["-5", "nan"])
def test_a_wait_that_is_no_time_is_refused_before_the_message_is_sent(
    embedded: Settings, wait: str
) -> None:
    """Before, the message was sent, then "no reply in the sandbox inbox within -5 s", exit 1."""
    url = unreachable_url()  # nothing is sent: were it, the error would be "cannot reach"
    args = ["--from", "+15557654321", "--body", "hi", "--wait", wait]
    result = runner.invoke(
        app, ["simulate-whatsapp", *args, "--api-url", url, "--api-key", "sbk_x"]
    )
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == (
        f"error: --wait {wait}: give the seconds to wait for the reply, 0 or more"
    )


@pytest.mark.parametrize("module", ["nosuch.module", "", "nosuch"])
@pytest.mark.parametrize("command", [["scheduler", "--list"], ["worker", "--metrics-port", "0"]])
def test_an_extra_module_that_is_not_there_is_a_usage_error(
    embedded: Settings, command: list[str], module: str
) -> None:
    """Before, its import failed with a traceback (the worker's after its migrations)."""
    result = runner.invoke(app, [*command, module])
    assert result.exit_code == 2, result.output
    assert f"no module named {module!r} to import" in one_line(result.output)
