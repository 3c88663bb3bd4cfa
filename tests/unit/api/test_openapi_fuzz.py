"""A property-based fuzz of the OpenAPI schema, in-process on embedded SQLite: no 5xx.

Each operation gets a few generated requests (valid and invalid), authenticated with the key
that route expects, against data that exists, so not every request stops at a 401 or 404.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from switchboard.api.app import create_app
from switchboard.common.migrate import worker_startup_migrations
from tests.support.environment import configured
from tests.support.factories import make_business
from tests.unit.api import rows

EXAMPLES = 6
OUTBOUND = "/api/v1/outbound-runs"


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    var = Path(tmp_path_factory.mktemp("fuzz")) / "var"
    with configured(database_url="", amqp_url="", var_dir=str(var)) as app_settings:
        worker_startup_migrations()
        business = make_business()
        lead = rows.lead(business.id, name="Fuzz")
        call = rows.call(business.id, lead_id=lead.id)
        rows.recording(business.id, call)
        conversation = rows.conversation(business.id)
        rows.message(business.id, conversation.id)
        app = create_app(app_settings)
        yield {
            "app": app,
            "headers": {
                "business": f"Bearer {business.api_key}",
                "admin": f"Bearer {app_settings.admin_api_key}",
                "internal": f"Bearer {app_settings.internal_api_token}",
            },
        }


def _key_for(path: str, headers: dict[str, str]) -> str:
    if path.startswith("/internal/"):
        return headers["internal"]
    if path.startswith("/api/v1/businesses") and not path.startswith("/api/v1/businesses/me"):
        return headers["admin"]
    return headers["business"]


def _fuzzer(operation: schemathesis.APIOperation, key: str, seen: Counter[int]) -> Any:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": key})
        seen[response.status_code] += 1
        case.validate_response(response, checks=[not_a_server_error])

    return fuzz


def _fuzz_operations(target: dict[str, Any], *, outbound: bool) -> tuple[list[str], Counter[int]]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", target["app"])
    operations = [result.ok() for result in schema.get_all_operations()]
    seen: Counter[int] = Counter()
    failures: list[str] = []
    for operation in operations:
        if operation.path.startswith(OUTBOUND) != outbound:
            continue
        fuzz = _fuzzer(operation, _key_for(operation.path, target["headers"]), seen)
        try:
            fuzz()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures, seen


def test_no_operation_answers_with_a_server_error(fuzz_target) -> None:
    failures, seen = _fuzz_operations(fuzz_target, outbound=False)
    assert not failures, "\n\n".join(failures)
    assert sum(seen.values()) > 200 and seen[200] + seen[201] > 40, seen


def test_no_outbound_run_operation_answers_with_a_server_error(fuzz_target) -> None:
    failures, _ = _fuzz_operations(fuzz_target, outbound=True)
    assert not failures, "\n\n".join(failures)
