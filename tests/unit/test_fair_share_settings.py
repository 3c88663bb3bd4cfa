"""The deployment's fair-share limits: a default, a queue's own, refused when malformed."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from switchboard.common.jobs.fair_share import defaults_json
from switchboard.common.settings import Settings


def test_the_deployment_s_limits_reach_sql_as_a_default_and_each_queue_s_own() -> None:
    settings = Settings(job_business_concurrency=4, job_business_concurrency_by_queue="analysis=2")
    assert settings.business_concurrency_by_queue == {"analysis": 2}
    # The rule that picks a business's limit is SQL's (test_fair_share_on_postgres.py).
    assert json.loads(defaults_json(settings)) == {"*": 4, "analysis": 2}


@pytest.mark.parametrize("value", ["analysis", "analysis=0", "=3", "analysis=two"])
def test_a_malformed_limit_by_queue_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="JOB_BUSINESS_CONCURRENCY_BY_QUEUE"):
        Settings(job_business_concurrency_by_queue=value)
