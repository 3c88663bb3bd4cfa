"""A property-based fuzz of the API's OpenAPI schema, shared by the SQLite and PostgreSQL tiers.

Each operation gets a few requests generated from its schema by schemathesis (hypothesis
underneath), authenticated with the key that route expects, against data that exists, so
not every request stops at a 401 or 404: about half of them valid by the schema, the others
not (a wrong type, a missing field or header, a body that is not JSON). Half of each kind
also carry one hostile value in place of a generated one: a NUL character in a string, an
integer beyond BIGINT in a number, in the path, the query or the JSON body (a lone surrogate
has its own test: schemathesis cannot validate a case holding one). Every answer must be no
5xx, a status the operation documents, and a body that matches the documented schema.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from switchboard.common.settings import Settings
from tests.support.factories import make_business
from tests.unit.api import rows

#: Requests per operation: enough to reach past validation, few enough for seconds per run.
EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: What a string may be turned into: NUL alone, or NUL inside it.
HOSTILE_TEXT: tuple[Callable[[str], str], ...] = (
    lambda _: "\x00",
    lambda text: text[: len(text) // 2] + "\x00" + text[len(text) // 2 :],
)
#: Integers no BIGINT column holds, and one that is out of range for any id.
BIG_INTS = (2**63, 2**64 + 1, -(2**63) - 1, 10**30)


@dataclass(frozen=True)
class FuzzTarget:
    """The app under fuzz and the ``Authorization`` header of each kind of caller."""

    app: FastAPI
    headers: dict[str, str]


def seed_target(app: FastAPI, app_settings: Settings) -> FuzzTarget:
    """A business with one of each object the API reads, and the keys to call it with."""
    business = make_business()
    lead = rows.lead(business.id, name="Fuzz")
    call = rows.call(business.id, lead_id=lead.id)
    rows.recording(business.id, call)
    conversation = rows.conversation(business.id)
    rows.message(business.id, conversation.id)
    return FuzzTarget(
        app,
        {
            "business": f"Bearer {business.api_key}",
            "admin": f"Bearer {app_settings.admin_api_key}",
            "internal": f"Bearer {app_settings.internal_api_token}",
        },
    )


def caller_for(path: str) -> str:
    """Which key a route expects: the admin's, the internal token, or a business's."""
    if path.startswith("/internal/"):
        return "internal"
    if path.startswith("/api/v1/admin/"):
        return "admin"
    if path.startswith("/api/v1/businesses") and not path.startswith("/api/v1/businesses/me"):
        return "admin"
    return "business"


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every string and integer in a JSON-like value, with its path."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*at, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*at, index))]
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return [(at, value)]
    return []


def _replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    head, rest = at[0], at[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    return [_replaced(item, rest, new) if i == head else item for i, item in enumerate(value)]


@st.composite
def _hostile(draw: st.DrawFn, cases: st.SearchStrategy[schemathesis.Case[Any]]) -> Any:
    case = draw(cases)
    if not draw(st.booleans()):
        return case
    places: dict[str, Any] = {"path_parameters": case.path_parameters, "query": case.query}
    if case.media_type == "application/json" and isinstance(case.body, dict | list):
        places["body"] = case.body
    leaves = [(name, at, value) for name, part in places.items() for at, value in _leaves(part)]
    if not leaves:
        return case
    name, at, value = draw(st.sampled_from(leaves))
    if isinstance(value, str):
        new: Any = draw(st.sampled_from(HOSTILE_TEXT))(value)
    else:
        new = draw(st.sampled_from(BIG_INTS))
    setattr(case, name, _replaced(places[name], at, new))
    return case


def _fuzzer(operation: Any, key: str, seen: Counter[int]) -> Callable[[], None]:
    cases = st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=_hostile(cases))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case[Any]) -> None:
        response = case.call(headers={"Authorization": key})
        seen[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    return fuzz


def fuzz_operations(
    target: FuzzTarget, include: Callable[[str], bool]
) -> tuple[list[str], Counter[int]]:
    """Fuzz every operation whose path ``include`` accepts; each failure, and the statuses."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", target.app)
    seen: Counter[int] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not include(operation.path):
            continue
        key = target.headers[caller_for(operation.path)]
        try:
            _fuzzer(operation, key, seen)()
        # Collect every operation's failure, then report them all (schemathesis raises a
        # BaseExceptionGroup when a case fails more than one check).
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures, seen
