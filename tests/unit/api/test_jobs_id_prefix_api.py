"""``GET /api/v1/jobs?id_prefix=``: a few characters of an id find the business's own jobs."""

from __future__ import annotations

import uuid

import pytest

from switchboard.common.jobs import enqueue
from tests.support import actors
from tests.support.factories import make_business


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def job_id_starting_with(prefix: str) -> str:
    """A UUID-shaped job id that starts with ``prefix`` (hex)."""
    return prefix + str(uuid.uuid4())[len(prefix) :]


def listed_ids(client, key: str, prefix: str) -> list[str]:
    response = client.get("/api/v1/jobs", params={"id_prefix": prefix}, headers=auth(key))
    assert response.status_code == 200, response.text
    return sorted(job["id"] for job in response.json()["items"])


def test_a_prefix_finds_only_this_business_jobs_whose_id_starts_with_it(client) -> None:
    owner, other = make_business(), make_business()
    shared = uuid.uuid4().hex[:6]
    first = enqueue(actors.NOOP, business_id=owner.id, job_id=job_id_starting_with(shared + "a1"))
    second = enqueue(actors.NOOP, business_id=owner.id, job_id=job_id_starting_with(shared + "b2"))
    foreign = enqueue(actors.NOOP, business_id=other.id, job_id=job_id_starting_with(shared + "a1"))
    assert listed_ids(client, owner.api_key, shared) == sorted([first.job_id, second.job_id])
    assert listed_ids(client, owner.api_key, shared + "a1") == [first.job_id]
    assert listed_ids(client, owner.api_key, (shared + "a1").upper()) == [first.job_id]
    assert listed_ids(client, owner.api_key, first.job_id) == [first.job_id]
    assert listed_ids(client, other.api_key, shared) == [foreign.job_id]
    assert listed_ids(client, owner.api_key, "ffff-ffff-0000") == []


@pytest.mark.parametrize("prefix", ["3f2", "3f2a%", "3f2_", "zzzz", "3f2a" * 10])
def test_a_prefix_too_short_too_long_or_not_hex_is_a_422_naming_it(client, prefix: str) -> None:
    business = make_business()
    response = client.get(
        "/api/v1/jobs", params={"id_prefix": prefix}, headers=auth(business.api_key)
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "id_prefix"]
