"""``switchboard simulate-call`` to a number no business answers is the caller's mistake (exit
2, as ``simulate-whatsapp``'s), and so is a call whose signature the gateway refuses (403); a
gateway that cannot look the number up is a failure (exit 1). The real CLI against a real
gateway and API (docs/cli.md, exit codes)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from tests.e2e.calls.test_simulated_call import _up
from tests.support.factories import unique_phone
from tests.support.processes import ServiceProcess, free_port, run_cli, service_env
from tests.support.waiting import wait_for
from tests.unit.cli.test_cli_messages import unreachable_url


def _gateway(start_service: Callable[..., ServiceProcess], api_base_url: str) -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    start_service("gateway", "--port", str(port), api_base_url=api_base_url, public_base_url=url)
    wait_for(lambda: _up(f"{url}/ready"), timeout=60, what="the gateway")
    return url


def _simulate_call(
    pg_rabbit, gateway_url: str, to: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = service_env(
        database_url=pg_rabbit.database_url,
        amqp_url=pg_rabbit.amqp_url,
        public_base_url=gateway_url,
        **extra_env,
    )
    return run_cli("simulate-call", "--to", to, "--json", env=env)


def test_a_call_to_a_number_no_business_answers_is_refused_as_given(
    pg_rabbit, start_service
) -> None:
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    start_service("api", "--port", str(api_port), api_base_url=api_url)
    wait_for(lambda: _up(f"{api_url}/ready"), timeout=60, what="the API")
    nobody = unique_phone()

    result = _simulate_call(pg_rabbit, _gateway(start_service, api_url), nobody)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"error: no business answers {nobody}: the gateway refused the call (check --to)\n"
    )


def test_a_gateway_that_cannot_look_the_number_up_is_a_failure(pg_rabbit, start_service) -> None:
    result = _simulate_call(pg_rabbit, _gateway(start_service, unreachable_url()), unique_phone())

    assert result.returncode == 1, result.stdout + result.stderr
    assert '"status": "rejected"' in result.stdout
    assert '"reason": "unavailable"' in result.stdout


def test_a_call_whose_signature_the_gateway_refuses_is_refused_as_given(
    pg_rabbit, start_service
) -> None:
    """A 403 is the command's mistake (another auth token, another URL): exit 2 with one
    line saying what to check, nothing on stdout; it was exit 1, "try again later"."""
    url = _gateway(start_service, unreachable_url())

    result = _simulate_call(pg_rabbit, url, unique_phone(), twilio_auth_token="not-the-gateways")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"error: the gateway refused the call's signature (403): is {url} its PUBLIC_BASE_URL, "
        "and TWILIO_AUTH_TOKEN the same here and there?\n"
    )
