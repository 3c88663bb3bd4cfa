"""Every route that names an object × another business's id → 404, answered exactly as for an id
that does not exist, and nothing changes; lists never show foreign rows; a body naming another
business's object is refused as if it did not exist. ``tests/unit/api/test_dashboard_isolation
_matrix.py`` does the same for the console's pages, and the coverage test below makes a new
route with an id in its path fail until one of the two matrices (or ``ADMIN_ONLY``) lists it."""

from __future__ import annotations

import importlib
import pkgutil
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute

from switchboard.api import routes as routes_package
from switchboard.api.idempotency import Idempotent
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.jobs import enqueue
from switchboard.common.settings import get_settings
from switchboard.domain.outbound import runs
from switchboard.worker.runtime.ledger import mark_dead
from tests.support import actors
from tests.support.factories import TestBusiness, make_business, unique_phone
from tests.unit.api import rows
from tests.unit.api.rows import auth
from tests.unit.api.test_dashboard_isolation_matrix import DASHBOARD_MATRIX, STATIC

#: Prefixes whose isolation this matrix owns.
OWNED = (
    "/api/v1/leads",
    "/api/v1/calls",
    "/api/v1/conversations",
    "/api/v1/webhooks",
    "/api/v1/reminders",
    "/api/v1/push-subscriptions",
    "/api/v1/jobs",
    "/api/v1/outbound-runs",
    "/api/v1/erasures",
)

#: A WhatsApp template send (allowed outside the 24-hour window, unlike a body).
TEMPLATE = {"content_sid": "HX" + "0123456789abcdef" * 2, "content_variables": {"1": "Sat"}}

#: (method, path template, JSON body) for every route that names an object.
MATRIX = [
    ("GET", "/api/v1/leads/{lead}", None),
    ("PATCH", "/api/v1/leads/{lead}", {"name": "stolen"}),
    ("DELETE", "/api/v1/leads/{lead}", None),
    ("GET", "/api/v1/calls/{call}", None),
    ("GET", "/api/v1/calls/{call}/recordings/{recording}/audio", None),
    ("GET", "/api/v1/conversations/{conversation}", None),
    ("GET", "/api/v1/conversations/{conversation}/messages", None),
    ("POST", "/api/v1/conversations/{conversation}/messages", {"body": "spam"}),
    ("POST", "/api/v1/conversations/{conversation}/messages", TEMPLATE),
    ("GET", "/api/v1/webhooks/{endpoint}", None),
    ("PATCH", "/api/v1/webhooks/{endpoint}", {"rotate_secret": True}),
    ("DELETE", "/api/v1/webhooks/{endpoint}", None),
    ("GET", "/api/v1/webhooks/{endpoint}/deliveries", None),
    ("POST", "/api/v1/webhooks/{endpoint}/test", None),
    ("GET", "/api/v1/reminders/{reminder}", None),
    ("PATCH", "/api/v1/reminders/{reminder}", {"title": "stolen"}),
    ("DELETE", "/api/v1/reminders/{reminder}", None),
    ("GET", "/api/v1/push-subscriptions/{subscription}", None),
    ("DELETE", "/api/v1/push-subscriptions/{subscription}", None),
    ("GET", "/api/v1/jobs/{job}", None),
    ("POST", "/api/v1/jobs/{job}/cancel", None),
    ("POST", "/api/v1/jobs/{dead_job}/retry", None),
    ("GET", "/api/v1/outbound-runs/{run}", None),
    ("POST", "/api/v1/outbound-runs/{run}/start", None),
    ("POST", "/api/v1/outbound-runs/{run}/cancel", None),
    ("GET", "/api/v1/outbound-runs/{run}/items", None),
    ("GET", "/api/v1/erasures/{erasure}", None),
]
LISTS = [
    *OWNED,
    "/api/v1/webhooks/{endpoint}/deliveries",
    "/api/v1/conversations/{conversation}/messages",
    "/api/v1/outbound-runs/{run}/items",
]
#: Routes with an id in the path that only the admin key (or the internal token) opens: any
#: business key is a 403 whatever the id, so they say nothing about another business's ids.
ADMIN_ONLY = [
    ("GET", "/api/v1/businesses/{business}", None),
    ("PATCH", "/api/v1/businesses/{business}", {"name": "stolen"}),
    ("POST", "/api/v1/businesses/{business}/api-keys", None),
    ("GET", "/api/v1/businesses/{business}/api-keys", None),
    ("DELETE", "/api/v1/businesses/{business}/api-keys/{key}", None),
    ("POST", "/api/v1/admin/parked-events/{parked}/replay", None),
]
#: Ids no business has (a job id is a UUID).
MISSING_ID = 987_654_321_987
MISSING_JOB = str(uuid.UUID(int=0x1234))
#: What an action's path ends with; the owner's view is the path without it.
ACTIONS = ("/cancel", "/retry", "/test", "/start")


@dataclass
class Owned:
    owner: TestBusiness
    intruder: TestBusiness
    ids: dict[str, Any]

    def missing(self) -> dict[str, Any]:
        """The same names, each an id nothing has."""
        return {
            name: MISSING_JOB if "job" in name else MISSING_ID + index
            for index, name in enumerate(self.ids)
        }


@pytest.fixture
def owned(client) -> Owned:
    # The tier's settings (SQLite here, PostgreSQL where the integration tier collects this):
    # asking for ``embedded`` would move a PostgreSQL run onto a fresh SQLite file.
    owner, intruder = make_business(), make_business()
    headers = auth(owner.api_key)
    lead = rows.lead(owner.id, name="Owner's lead")
    call = rows.call(owner.id, lead_id=lead.id)
    audio_key = f"{owner.id}/owned.wav"
    make_recording_storage(get_settings()).put(audio_key, b"RIFF owner's audio")
    recording = rows.recording(owner.id, call, storage_key=audio_key)
    conversation = rows.conversation(owner.id, lead_id=lead.id)
    rows.message(owner.id, conversation.id)
    endpoint = client.post(
        "/api/v1/webhooks", json={"url": "https://hooks.example.com/x"}, headers=headers
    ).json()
    rows.delivery(owner.id, endpoint["id"])
    reminder = client.post(
        "/api/v1/reminders",
        json={"title": "mine", "due_at": "2030-01-01T09:00:00Z", "lead_id": lead.id},
        headers=headers,
    ).json()
    subscription = client.post(
        "/api/v1/push-subscriptions",
        json={"endpoint": "https://push.example.com/a", "keys": rows.push_keys()},
        headers=headers,
    ).json()
    job = enqueue(actors.NOOP, business_id=owner.id).job_id
    dead_job = enqueue(actors.NOOP, business_id=owner.id).job_id
    mark_dead(dead_job, "boom")
    run = runs.create_run(owner.id, runs.NewRun(name="Owner's run", lead_ids=[lead.id])).run
    erasure = client.post(
        "/api/v1/erasures", json={"phone": unique_phone()}, headers=headers
    ).json()
    ids = {
        "lead": lead.id,
        "call": call.id,
        "recording": recording.id,
        "conversation": conversation.id,
        "endpoint": endpoint["id"],
        "reminder": reminder["id"],
        "subscription": subscription["id"],
        "job": job,
        "dead_job": dead_job,
        "run": run.id,
        "erasure": erasure["id"],
    }
    return Owned(owner, intruder, ids)


def test_every_route_with_an_id_in_its_path_is_in_a_matrix() -> None:
    routes = [
        (method, _route_pattern(route.path))
        for route in _all_routes()
        if "{" in route.path
        for method in route.methods - {"HEAD"}
    ]
    assert len(routes) > 40, "too few routes found: the walk missed the routers"
    listed = [
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for method, path, _ in (*MATRIX, *ADMIN_ONLY, *DASHBOARD_MATRIX)
    ] + [("GET", re.sub(r"\{[^}]+\}", "1", path)) for path in STATIC]

    def covers(row: tuple[str, str], route: tuple[str, re.Pattern[str]]) -> bool:
        return row[0] == route[0] and route[1].fullmatch(row[1]) is not None

    uncovered = [r[1].pattern for r in routes if not any(covers(row, r) for row in listed)]
    assert uncovered == [], "routes with an id that no isolation matrix covers"
    stale = [row for row in listed if not any(covers(row, r) for r in routes)]
    assert stale == [], "matrix rows no route answers"


def _row_ids(rows: list[tuple[str, str, Any]]) -> list[str]:
    return [f"{m} {p}" + (f" {sorted(b)}" if b else "") for m, p, b in rows]


def test_every_operation_of_the_openapi_schema_with_an_id_is_in_the_matrix(client) -> None:
    """The schema as served (every router the app includes, wherever it is defined): each
    operation with an id in its path is in ``MATRIX`` or ``ADMIN_ONLY``, counted so that a
    route cannot fall out of the walk unnoticed."""
    schema = client.app.openapi()["paths"]
    operations = [
        (method.upper(), _route_pattern(path))
        for path, methods in schema.items()
        if "{" in path
        for method in methods
    ]
    assert len(operations) >= 30, "too few operations with an id: the schema walk missed some"
    listed = [(m, re.sub(r"\{[^}]+\}", "1", p)) for m, p, _ in (*MATRIX, *ADMIN_ONLY)]
    uncovered = [
        f"{method} {pattern.pattern}"
        for method, pattern in operations
        if not any(m == method and pattern.fullmatch(p) for m, p in listed)
    ]
    assert uncovered == [], "operations with an id that no isolation row tries"
    from_modules = {
        (method, route.path)
        for route in _all_routes()
        if route.include_in_schema and "{" in route.path
        for method in route.methods - {"HEAD"}
    }
    served = {(m.upper(), p) for p, ms in schema.items() if "{" in p for m in ms}
    assert served == from_modules, "the schema and the routes package disagree"


@pytest.mark.parametrize(("method", "path", "body"), MATRIX, ids=_row_ids(MATRIX))
def test_another_business_s_object_is_404_and_stays_untouched(client, owned, method, path, body):
    url = path.format(**owned.ids)
    owner_view = _owner_view(url)
    before = client.get(owner_view, headers=auth(owned.owner.api_key))
    assert before.status_code == 200, before.text

    response = client.request(method, url, json=body, headers=auth(owned.intruder.api_key))

    assert response.status_code == 404, response.text
    after = client.get(owner_view, headers=auth(owned.owner.api_key))
    assert (after.status_code, after.content) == (200, before.content)


@pytest.mark.parametrize(("method", "path", "body"), MATRIX, ids=_row_ids(MATRIX))
def test_another_business_s_id_is_answered_exactly_as_a_missing_one(
    client, owned, method, path, body
):
    headers = auth(owned.intruder.api_key)
    missing = owned.missing()
    foreign = client.request(method, path.format(**owned.ids), json=body, headers=headers)
    absent = client.request(method, path.format(**missing), json=body, headers=headers)
    assert foreign.status_code == absent.status_code == 404
    assert _ids_masked(foreign.text, owned.ids) == _ids_masked(absent.text, missing)


@pytest.mark.parametrize(
    ("method", "path", "body"), ADMIN_ONLY, ids=[f"{m} {p}" for m, p, _ in ADMIN_ONLY]
)
def test_admin_routes_refuse_a_business_key_whatever_the_id(client, owned, method, path, body):
    theirs = {"business": owned.owner.id, "key": 1, "parked": 1}
    missing = {"business": MISSING_ID, "key": MISSING_ID, "parked": MISSING_ID}
    headers = auth(owned.intruder.api_key)
    foreign = client.request(method, path.format(**theirs), json=body, headers=headers)
    absent = client.request(method, path.format(**missing), json=body, headers=headers)
    assert foreign.status_code == absent.status_code == 403
    assert foreign.json() == absent.json()


@pytest.mark.parametrize("range_header", ["bytes=0-3", "bytes=-2", "bytes=999-", "bytes=0-0,2-3"])
def test_a_range_of_another_business_s_recording_is_404_as_a_missing_one(
    client, owned, range_header
) -> None:
    path = "/api/v1/calls/{call}/recordings/{recording}/audio"
    headers = {**auth(owned.intruder.api_key), "Range": range_header}
    foreign = client.get(path.format(**owned.ids), headers=headers)
    absent = client.get(path.format(**owned.missing()), headers=headers)
    assert foreign.status_code == absent.status_code == 404, foreign.text
    assert "content-range" not in foreign.headers
    assert _ids_masked(foreign.text, owned.ids) == _ids_masked(absent.text, owned.missing())
    mine = client.get(
        path.format(**owned.ids), headers={**auth(owned.owner.api_key), "Range": range_header}
    )
    assert mine.status_code in (200, 206, 416)


@pytest.mark.parametrize("path", LISTS)
def test_lists_never_show_another_business_s_rows(client, owned, path):
    mine = client.get(path.format(**owned.ids), headers=auth(owned.owner.api_key))
    assert mine.status_code == 200 and mine.json()["items"], path
    if "{" in path:  # a foreign parent is simply not found
        theirs = client.get(path.format(**owned.ids), headers=auth(owned.intruder.api_key))
        assert theirs.status_code == 404
    else:
        theirs = client.get(path, headers=auth(owned.intruder.api_key))
        assert theirs.status_code == 200 and theirs.json()["items"] == []


def test_filters_naming_a_foreign_lead_find_nothing(client, owned) -> None:
    headers = auth(owned.intruder.api_key)
    for path in ("/api/v1/calls", "/api/v1/conversations", "/api/v1/reminders"):
        response = client.get(path, params={"lead_id": owned.ids["lead"]}, headers=headers)
        assert response.json()["items"] == [], path
    search = client.get("/api/v1/leads", params={"q": "Owner"}, headers=headers)
    assert search.json()["items"] == []
    by_prefix = client.get(
        "/api/v1/jobs", params={"id_prefix": owned.ids["job"][:8]}, headers=headers
    )
    assert by_prefix.status_code == 200 and by_prefix.json()["items"] == []


#: (method, path, body with ``{lead}``) of the requests whose body names a lead.
BODY_NAMES_A_LEAD = [
    ("POST", "/api/v1/outbound-runs", {"name": "Theirs", "lead_ids": ["{lead}"]}),
    (
        "POST",
        "/api/v1/reminders",
        {"title": "x", "due_at": "2030-01-01T09:00:00Z", "lead_id": "{lead}"},
    ),
    ("PATCH", "/api/v1/reminders/{own_reminder}", {"lead_id": "{lead}"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), BODY_NAMES_A_LEAD, ids=[f"{m} {p}" for m, p, _ in BODY_NAMES_A_LEAD]
)
def test_a_body_naming_another_business_s_lead_is_refused_as_a_missing_one(
    client, owned, method, path, body
) -> None:
    headers = auth(owned.intruder.api_key)
    own_reminder = client.post(
        "/api/v1/reminders",
        json={"title": "own", "due_at": "2030-01-01T09:00:00Z"},
        headers=headers,
    ).json()["id"]
    url = path.format(own_reminder=own_reminder)
    lead, missing = owned.ids["lead"], MISSING_ID
    foreign = client.request(method, url, json=_with_lead(body, lead), headers=headers)
    absent = client.request(method, url, json=_with_lead(body, missing), headers=headers)
    assert foreign.status_code == absent.status_code == 422, foreign.text
    assert foreign.text.replace(str(lead), "<id>") == absent.text.replace(str(missing), "<id>")
    assert client.get("/api/v1/outbound-runs", headers=headers).json()["items"] == []
    [mine] = client.get("/api/v1/reminders", headers=headers).json()["items"]
    assert mine["lead_id"] is None
    owner_run = client.get(
        f"/api/v1/outbound-runs/{owned.ids['run']}", headers=auth(owned.owner.api_key)
    )
    assert owner_run.json()["total"] == 1


def test_a_csv_naming_another_business_s_lead_creates_the_caller_s_own(client, owned) -> None:
    theirs = client.get(f"/api/v1/leads/{owned.ids['lead']}", headers=auth(owned.owner.api_key))
    phone = theirs.json()["phone"]
    csv = f"phone,name\n{phone},stolen\n"
    headers = auth(owned.intruder.api_key)

    imported = client.post("/api/v1/leads/import", files={"file": ("l.csv", csv)}, headers=headers)

    assert imported.status_code == 200 and imported.json()["created"] == 1, imported.text
    [mine] = client.get("/api/v1/leads", headers=headers).json()["items"]
    assert (mine["phone"], mine["name"]) == (phone, "stolen") and mine["id"] != owned.ids["lead"]
    after = client.get(f"/api/v1/leads/{owned.ids['lead']}", headers=auth(owned.owner.api_key))
    assert after.content == theirs.content


#: (path template, request) of every POST that honours ``Idempotency-Key`` (``{lead}`` in a
#: body is the owner's lead); the coverage test below fails on a new one until it is here.
IDEMPOTENT: list[tuple[str, dict[str, Any]]] = [
    ("/api/v1/leads", {"json": {"phone": "+15550100001", "name": "Ann"}}),
    ("/api/v1/leads/import", {"files": {"file": ("l.csv", "phone,name\n+15550100002,Bo\n")}}),
    ("/api/v1/conversations", {"json": {"contact_number": "+15550100003"}}),
    ("/api/v1/conversations/{conversation}/messages", {"json": {"body": "See you Saturday"}}),
    ("/api/v1/conversations/{conversation}/messages", {"json": TEMPLATE}),
    ("/api/v1/webhooks", {"json": {"url": "https://hooks.example.com/y"}}),
    ("/api/v1/webhooks/{endpoint}/test", {}),
    ("/api/v1/reminders", {"json": {"title": "x", "due_at": "2030-01-01T09:00:00Z"}}),
    ("/api/v1/push-subscriptions", {"json": {"endpoint": "https://push.example.com/b"}}),
    ("/api/v1/erasures", {"json": {"phone": "+15550100004"}}),
    ("/api/v1/jobs/{job}/cancel", {}),
    ("/api/v1/jobs/{dead_job}/retry", {}),
    ("/api/v1/outbound-runs", {"json": {"name": "Mine", "lead_ids": ["{lead}"]}}),
    ("/api/v1/outbound-runs/{run}/start", {}),
    ("/api/v1/outbound-runs/{run}/cancel", {}),
]


def test_every_route_that_honours_idempotency_keys_is_tried_across_businesses() -> None:
    keyed = {
        _route_pattern(route.path)
        for route in _all_routes()
        if any(d.dependency is Idempotent.dependency for d in route.dependencies)
    }
    assert len(keyed) > 10, "too few keyed routes found: the walk missed the routers"
    listed = {re.sub(r"\{[^}]+\}", "1", path) for path, _ in IDEMPOTENT}
    assert {p.pattern for p in keyed if not any(p.fullmatch(row) for row in listed)} == set()
    assert {row for row in listed if not any(p.fullmatch(row) for p in keyed)} == set()


@pytest.mark.parametrize(("path", "request_"), IDEMPOTENT, ids=[p for p, _ in IDEMPOTENT])
def test_an_idempotency_key_replays_only_within_its_business(client, owned, path, request_):
    """The owner's answer, stored under its key, is never the intruder's with the same key
    and request: the intruder's is its own (or a 404 for the owner's object)."""
    if "push-subscriptions" in path:
        request_ = {"json": {**request_["json"], "keys": rows.push_keys()}}
    if "json" in request_:
        request_ = {"json": _with_lead(request_["json"], owned.ids["lead"])}
    url, key = path.format(**owned.ids), {"Idempotency-Key": "shared-key-1"}
    mine = client.post(url, **request_, headers={**auth(owned.owner.api_key), **key})
    assert mine.status_code < 300, mine.text
    again = client.post(url, **request_, headers={**auth(owned.owner.api_key), **key})
    assert again.headers.get("Idempotent-Replayed") == "true"

    theirs = client.post(url, **request_, headers={**auth(owned.intruder.api_key), **key})

    assert "Idempotent-Replayed" not in theirs.headers
    if path == "/api/v1/leads/import":  # the same counts, but the intruder's own lead
        leads = client.get("/api/v1/leads", headers=auth(owned.intruder.api_key)).json()
        assert [lead["name"] for lead in leads["items"]] == ["Bo"]
    else:
        assert theirs.content != mine.content
    if "{" in path:
        assert theirs.status_code == 404, theirs.text


def _with_lead(body: dict[str, Any], lead: int) -> dict[str, Any]:
    def fill(value: Any) -> Any:
        if value == "{lead}":
            return lead
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    return {name: fill(value) for name, value in body.items()}


def _owner_view(url: str) -> str:
    for action in ACTIONS:
        url = url.removesuffix(action)
    return url


def _ids_masked(text: str, ids: dict[str, Any]) -> str:
    for value in sorted((str(v) for v in ids.values()), key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "<id>", text)
    return text


def _all_routes() -> list[APIRoute]:
    """Every route of every module of ``switchboard.api.routes`` (a new module included)."""
    found = []
    for module in pkgutil.iter_modules(routes_package.__path__):
        imported = importlib.import_module(f"{routes_package.__name__}.{module.name}")
        router = getattr(imported, "router", None)
        found += [r for r in getattr(router, "routes", []) if isinstance(r, APIRoute)]
    return found


def _route_pattern(path: str) -> re.Pattern[str]:
    """A route's path as a pattern: each parameter one path segment."""
    return re.compile("[^/]+".join(re.escape(part) for part in re.split(r"\{[^}]+\}", path)))
