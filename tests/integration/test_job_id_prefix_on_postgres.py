"""A job id prefix on PostgreSQL: case-insensitive like on SQLite, within the business only."""

from __future__ import annotations

import uuid

from switchboard.common.jobs import enqueue, service
from switchboard.common.settings import Settings
from tests.support import actors
from tests.support.factories import make_business


def test_a_prefix_in_any_case_finds_only_this_business_jobs_on_postgres(pg: Settings) -> None:
    owner, other = make_business(), make_business()
    shared = uuid.uuid4().hex[:6]
    ref = enqueue(actors.NOOP, business_id=owner.id, job_id=shared + str(uuid.uuid4())[6:])
    enqueue(actors.NOOP, business_id=other.id, job_id=shared + str(uuid.uuid4())[6:])
    for prefix in (shared, shared.upper()):
        page = service.list_jobs(owner.id, id_prefix=prefix)
        assert [job.id for job in page.items] == [ref.job_id]
    assert service.list_jobs(owner.id, id_prefix=shared[:2] + "%").items == []
