"""A JSON operation sent a body that is not declared JSON is a 415 in the error body, naming
the Content-Type it expects (FastAPI's own answer is a 422 about dictionaries), as is an upload
sent anything but multipart/form-data; credentials still come first, an empty body is left to
the route, and forms are untouched."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from switchboard.api.json_bodies import is_json
from tests.support.factories import make_business
from tests.unit.api.rows import auth

LEAD = json.dumps({"phone": "+15557654321", "name": "Ada"}).encode()


@pytest.mark.parametrize(
    ("content_type", "said"),
    [
        ("text/plain", "sent with Content-Type 'text/plain'"),
        ("text/plain; charset=utf-8", "sent with Content-Type 'text/plain; charset=utf-8'"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
        (None, "sent with no Content-Type"),
    ],
)
def test_a_json_body_sent_as_something_else_is_a_415_that_says_so(
    client: TestClient, content_type: str | None, said: str
) -> None:
    headers = auth(make_business().api_key)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post("/api/v1/leads", content=LEAD, headers=headers)

    assert response.status_code == 415, response.text
    body = response.json()
    assert body["code"] == "unsupported_media_type"
    assert body["detail"].startswith("the body must be application/json")
    assert said in body["detail"]
    assert client.get("/api/v1/leads", headers=headers).json()["items"] == []


@pytest.mark.parametrize(
    ("content_type", "said"),
    [
        ("application/json", "sent with Content-Type 'application/json'"),
        ("text/csv", "sent with Content-Type 'text/csv'"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
        (None, "sent with no Content-Type"),
    ],
)
def test_an_upload_sent_as_something_else_is_a_415_naming_its_file_part(
    client: TestClient, content_type: str | None, said: str
) -> None:
    """A JSON body to the CSV import was a 422 "missing file", with no word of the header."""
    headers = auth(make_business().api_key)
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = client.post("/api/v1/leads/import", content=LEAD, headers=headers)

    assert response.status_code == 415, response.text
    body = response.json()
    assert body["code"] == "unsupported_media_type"
    assert body["detail"].startswith("the body must be multipart/form-data with a 'file' part")
    assert said in body["detail"]
    assert client.get("/api/v1/leads", headers=headers).json()["items"] == []


def test_an_upload_without_its_file_part_is_still_a_422_naming_it(client: TestClient) -> None:
    headers = auth(make_business().api_key)
    response = client.post(
        "/api/v1/leads/import", files={"other": ("l.csv", b"phone\n")}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


def test_without_a_key_it_is_still_a_401(client: TestClient) -> None:
    response = client.post("/api/v1/leads", content=LEAD, headers={"Content-Type": "text/plain"})
    assert response.status_code == 401
    json_upload = {"Content-Type": "application/json"}
    response = client.post("/api/v1/leads/import", content=LEAD, headers=json_upload)
    assert response.status_code == 401


def test_json_is_taken_with_a_charset_or_a_json_suffix(client: TestClient) -> None:
    key = make_business().api_key
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        lead = json.dumps({"phone": f"+1555765{len(content_type):04d}"}).encode()
        headers = {**auth(key), "Content-Type": content_type}
        response = client.post("/api/v1/leads", content=lead, headers=headers)
        assert response.status_code == 201, response.text
    assert is_json("Application/JSON") and not is_json("text/json")


def test_an_empty_body_is_left_to_the_route(client: TestClient) -> None:
    headers = {**auth(make_business().api_key), "Content-Type": "text/plain"}
    response = client.post("/api/v1/leads", content=b"", headers=headers)
    assert response.status_code == 422  # the body is required: FastAPI says so


def test_every_json_operation_and_upload_documents_the_415(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    uploads = []
    for path, operations in paths.items():
        for operation in operations.values():
            body_types = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in body_types:
                uploads.append(path)
            if {"application/json", "multipart/form-data"} & body_types.keys():
                assert operation["responses"]["415"]["content"]["application/json"]
    assert uploads == ["/api/v1/leads/import"]
