"""A query parameter or a form field of one value given twice is a 422 naming it; a list
parameter takes every value. The API's own routes are tried in
``tests/integration/api/test_malformed_parameters_on_postgres.py``; none of them declares a
list, so the rule is tried here on a route that does."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Form, Header, Query
from fastapi.testclient import TestClient

from switchboard.api.errors import install_error_handlers
from switchboard.api.repeated_params import one_value_each


def _app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(one_value_each)])
    install_error_handlers(app)

    @app.get("/tagged")
    def tagged(
        tag: Annotated[list[str] | None, Query()] = None, limit: int = 1
    ) -> dict[str, object]:
        return {"tag": tag, "limit": limit}

    @app.get("/headed")
    def headed(
        x_trace: Annotated[str | None, Header()] = None,
        key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> dict[str, object]:
        return {"trace": x_trace, "key": key}

    @app.post("/form")
    def form(
        name: Annotated[str, Form()], tag: Annotated[list[str] | None, Form()] = None
    ) -> dict[str, object]:
        return {"name": name, "tag": tag}

    return app


def test_a_list_parameter_takes_every_value_and_one_of_one_value_only_one() -> None:
    client = TestClient(_app())

    assert client.get("/tagged?tag=a&tag=b&limit=2").json() == {"tag": ["a", "b"], "limit": 2}
    refused = client.get("/tagged?tag=a&limit=1&limit=2&limit=3")
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {
            "loc": ["query", "limit"],
            "msg": "given more than once (3 times): send it once",
            "type": "repeated_parameter",
        }
    ]


def test_a_form_field_of_one_value_given_twice_is_a_422_naming_it() -> None:
    client = TestClient(_app())

    posted = client.post("/form", data={"name": "a", "tag": ["x", "y"]})
    assert posted.json() == {"name": "a", "tag": ["x", "y"]}
    refused = client.post("/form", data={"name": ["a", "b"], "tag": ["x", "y"]})
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {
            "loc": ["body", "name"],
            "msg": "given more than once (2 times): send it once",
            "type": "repeated_parameter",
        }
    ]
    # A name once in the query and once in the form is no repeat: each is counted apart.
    assert client.post("/form?name=q", data={"name": "a"}).json() == {"name": "a", "tag": None}


def test_a_header_of_one_value_given_twice_in_any_case_is_a_422_naming_it() -> None:
    client = TestClient(_app())

    once = client.get("/headed", headers=[("X-Trace", "a"), ("Accept", "x"), ("Accept", "y")])
    assert once.json() == {"trace": "a", "key": None}  # headers the route does not read may repeat
    refused = client.get(
        "/headed",
        headers=[
            ("x-trace", "a"),
            ("X-Trace", "b"),
            ("Idempotency-Key", "k"),
            ("idempotency-key", "k"),
        ],
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {
            "loc": ["header", "x-trace"],
            "msg": "given more than once (2 times): send it once",
            "type": "repeated_parameter",
        },
        {
            "loc": ["header", "Idempotency-Key"],
            "msg": "given more than once (2 times): send it once",
            "type": "repeated_parameter",
        },
    ]
