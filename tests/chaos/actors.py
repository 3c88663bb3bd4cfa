"""The chaos scenarios' actors; ``switchboard worker tests.chaos.actors`` declares them.

:data:`EFFECT` applies an effect the way the domain's actors do: it checks whether its job
already applied it, calls "outside" (a short sleep), then records it. A run after the effect
was recorded (the worker died before its success mark) finds the row and only counts itself
(``reruns``); two runs of one job at once both find nothing and both record it, which the
scenarios count as *applied twice*. :data:`SUICIDE` kills its worker process on every
delivery, on the same queue; :data:`TIMEBOUND` applies the same effect but may expire.
"""

from __future__ import annotations

import os
import signal
import time

from sqlalchemy import text

from switchboard.common.db import system_session
from switchboard.common.jobs import current_job
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import ActorSpec

QUEUE = "chaos"
EFFECT = ActorSpec("chaos_effect_job", QUEUE, timeout_s=30, max_retries=3)
SUICIDE = ActorSpec("chaos_suicide_job", QUEUE, timeout_s=30, max_retries=3)
#: Time-bound work (as a reminder push or a dial): it may expire, ten minutes after enqueueing.
TIMEBOUND = ActorSpec("chaos_timebound_job", QUEUE, timeout_s=30, max_retries=3, ttl_s=600)

#: The effect table: no unique key on ``job_id`` on purpose, so a double application shows.
EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS chaos_effects ("
    " id bigserial PRIMARY KEY, job_id text NOT NULL, business_id bigint NOT NULL,"
    " pid integer NOT NULL, reruns integer NOT NULL DEFAULT 0,"
    " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    "CREATE INDEX IF NOT EXISTS chaos_effects_job ON chaos_effects (job_id)",
)
#: How long the effect's outside call takes.
OUTSIDE_CALL_S = 0.005

_SEEN = text("UPDATE chaos_effects SET reruns = reruns + 1 WHERE job_id = :job_id RETURNING 1")
_APPLY = text(
    "INSERT INTO chaos_effects (job_id, business_id, pid) VALUES (:job_id, :business_id, :pid)"
)


def effect(*, business_id: int) -> None:
    job = current_job()
    assert job is not None
    with system_session() as session:
        if session.execute(_SEEN, {"job_id": job.job_id}).first() is not None:
            return
    time.sleep(OUTSIDE_CALL_S)
    with system_session() as session:
        session.execute(
            _APPLY, {"job_id": job.job_id, "business_id": business_id, "pid": os.getpid()}
        )


def suicide(*, business_id: int) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


ACTORS = {
    spec.name: job_actor(spec)(fn)
    for spec, fn in ((EFFECT, effect), (SUICIDE, suicide), (TIMEBOUND, effect))
}
