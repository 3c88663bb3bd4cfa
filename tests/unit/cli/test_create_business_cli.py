from __future__ import annotations

import json

from typer.testing import CliRunner

from switchboard.cli.main import app
from tests.support.factories import unique_phone

runner = CliRunner()


def test_create_business_prints_the_business_and_its_key_as_json(embedded) -> None:
    phone = unique_phone()
    result = runner.invoke(app, ["create-business", "--name", "Acme", "--phone", phone, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["business"]["phone_number"] == phone
    assert body["api_key"].startswith("sbk_")


def test_create_business_with_a_bad_phone_names_the_option(embedded) -> None:
    result = runner.invoke(app, ["create-business", "--name", "Acme", "--phone", "12345"])
    assert result.exit_code == 2
    assert "--phone" in result.output
