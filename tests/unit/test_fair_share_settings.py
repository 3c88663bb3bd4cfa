"""The deployment's fair-share limits: a default, a queue's own, refused when malformed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from switchboard.common.jobs.fair_share import limit_of
from switchboard.common.settings import Settings


def test_a_business_s_own_limit_comes_first_then_the_queue_s_then_the_default() -> None:
    settings = Settings(job_business_concurrency=4, job_business_concurrency_by_queue="analysis=2")
    assert settings.business_concurrency_by_queue == {"analysis": 2}
    assert limit_of(settings, {"analysis": 9}, "analysis") == 9
    assert limit_of(settings, {"whatsapp": 9}, "analysis") == 2
    assert limit_of(settings, None, "calls") == 4


@pytest.mark.parametrize("value", ["analysis", "analysis=0", "=3", "analysis=two"])
def test_a_malformed_limit_by_queue_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="JOB_BUSINESS_CONCURRENCY_BY_QUEUE"):
        Settings(job_business_concurrency_by_queue=value)
