"""``switchboard run``'s address and ports, refused in one line before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from switchboard.cli.main import app
from switchboard.common.settings import Settings

runner = CliRunner()
PORTS = ["--api-port", "18400", "--gateway-port", "18401", "--scheduler-port", "18402"]


def one_line(output: str) -> str:
    return " ".join(output.split())


def test_a_host_that_is_no_address_is_one_line_not_a_traceback(embedded: Settings) -> None:
    result = runner.invoke(app, ["run", "--host", "999.1.1.1", *PORTS])
    assert result.exit_code == 2, result.output
    assert one_line(result.output).startswith("error: --host 999.1.1.1: ")
    assert "give an address of this machine" in result.output


@pytest.mark.parametrize("host", ["192.0.2.1", "203.0.113.7"])  # TEST-NET: never this machine's
def test_a_host_of_another_machine_is_not_called_ports_in_use(
    embedded: Settings, host: str
) -> None:
    """Before, every port was "in use (is Switchboard running already?)"."""
    result = runner.invoke(app, ["run", "--host", host, *PORTS])
    assert result.exit_code == 2, result.output
    said = one_line(result.output)
    assert "in use" not in said
    assert said.startswith(f"error: cannot listen on --host {host} --api-port 18400: ")


@pytest.mark.parametrize(
    ("ports", "said"),
    [
        (["18400", "18400", "18402"], "--api-port and --gateway-port are both 18400"),
        (["18400", "18401", "18400"], "--api-port and --scheduler-port are both 18400"),
        (["18400", "18401", "18401"], "--gateway-port and --scheduler-port are both 18401"),
    ],
)
def test_two_services_on_one_port_are_refused_before_anything_starts(
    embedded: Settings, ports: list[str], said: str
) -> None:
    """Before, the run migrated and started, then the second bind ended it: a traceback,
    exit 3."""
    api, gateway, scheduler = ports
    args = ["--api-port", api, "--gateway-port", gateway, "--scheduler-port", scheduler]
    result = runner.invoke(app, ["run", *args])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == f"error: {said}: give each service its own port"


def test_threads_by_the_billion_are_a_usage_error(embedded: Settings) -> None:
    """Before, the in-process worker was asked for that many threads. The ports given are
    shared, so that a run without the check stops there instead of starting them."""
    ports = ["--api-port", "18400", "--gateway-port", "18400", "--scheduler-port", "18402"]
    result = runner.invoke(app, ["run", "--threads", "99999999999", *ports])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--threads'" in one_line(result.output)
