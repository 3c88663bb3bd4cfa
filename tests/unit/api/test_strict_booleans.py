"""A yes or no a client sends is read strictly: in a JSON body only ``true`` or ``false``
(``schemas.Boolean``), in a query only the text ``true`` or ``false`` (``schemas.UrlBoolean``).
Every route's booleans are walked here, so a new one declared as a plain ``bool`` (which
pydantic reads from ``"yes"``, ``"on"``, ``1``) fails until it takes one of the two. The API's
body booleans are tried through their routes in
``tests/integration/api/test_malformed_parameters_on_postgres.py``; no route takes a boolean in
its query yet, so ``UrlBoolean`` is tried here on a route that does."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from fastapi import FastAPI, Query, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from switchboard.api.errors import install_error_handlers
from switchboard.api.schemas import UrlBoolean
from tests.unit.api.test_dashboard_web_security import _routes

#: What pydantic's lax reading takes for true or false, and a JSON body must not send.
NOT_JSON_BOOLEANS: list[object] = ["true", "false", "yes", "off", 1, 0, 1.0]
#: What pydantic's lax reading takes from a query string, besides ``true`` and ``false``.
NOT_URL_BOOLEANS: list[object] = [*"1 0 yes no on off t f y n True FALSE".split(), ""]


def _holds_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    if get_origin(annotation) in (Annotated, Union, types.UnionType, list, dict):
        return any(_holds_bool(arg) for arg in get_args(annotation))
    return False


def _as_declared(info: FieldInfo) -> Any:
    return Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation


def _body_booleans(model: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(where, declared type) of every boolean field of a body, nested models' too."""
    for member in get_args(model) or (model,):
        if isinstance(member, type) and issubclass(member, BaseModel):
            for name, info in member.model_fields.items():
                if _holds_bool(info.annotation):
                    yield f"{where} {member.__name__}.{name}", _as_declared(info)
                for inner in get_args(info.annotation) or (info.annotation,):
                    yield from _body_booleans(inner, f"{where} {member.__name__}.{name}")


def _taken(where: str, declared: Any, values: list[object]) -> list[str]:
    """Which of ``values`` the type ``declared`` reads as a boolean, named with ``where``."""
    taken = []
    for value in values:
        try:
            TypeAdapter(declared).validate_python(value)
        except ValidationError:
            continue
        taken.append(f"{where} = {value!r}")
    return taken


def test_every_boolean_a_route_reads_is_strict(client: TestClient) -> None:
    lenient: list[str] = []
    body_fields = 0
    for route in _routes(client.app.routes):
        for field in get_flat_params(route.dependant):
            if _holds_bool(field.field_info.annotation):
                where = f"{route.path} ?{field.alias}"
                lenient += _taken(where, _as_declared(field.field_info), NOT_URL_BOOLEANS)
        if route.body_field is None:
            continue
        form = isinstance(route.body_field.field_info, params.Form)
        wrong = NOT_URL_BOOLEANS if form else NOT_JSON_BOOLEANS
        for where, declared in _body_booleans(route.body_field.field_info.annotation, route.path):
            body_fields += 1
            lenient += _taken(where, declared, wrong)
            assert TypeAdapter(declared).validate_python(True) is True, where

    assert body_fields >= 5, "the walk missed the bodies' booleans (webhooks', businesses')"
    assert lenient == [], "declare it schemas.Boolean (a body) or schemas.UrlBoolean (a query)"


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/flag")
    def flag(on: Annotated[UrlBoolean | None, Query()] = None) -> dict[str, bool | None]:
        return {"on": on}

    return app


def test_a_query_boolean_is_true_or_false_as_json_writes_them() -> None:
    client = TestClient(_app())

    assert [client.get(f"/flag?on={v}").json() for v in ("true", "false")] == [
        {"on": True},
        {"on": False},
    ]
    assert client.get("/flag").json() == {"on": None}


@pytest.mark.parametrize("value", NOT_URL_BOOLEANS)
def test_any_other_spelling_in_a_query_is_a_422_naming_it(value: str) -> None:
    response = TestClient(_app()).get("/flag", params={"on": value})

    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert (error["loc"], error["msg"]) == (["query", "on"], "Input should be true or false")
