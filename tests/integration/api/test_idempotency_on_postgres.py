"""Idempotency-Key on PostgreSQL: the unit tests again under row-level security, and a repeat
racing the first request for real."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from switchboard.common.models import Job, WhatsAppMessage
from switchboard.common.settings import Settings
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.api import rows
from tests.unit.api.test_idempotency_api import (  # noqa: F401 - collected here too
    _count,
    _keyed,
    test_a_duplicate_answered_409_is_not_kept,
    test_a_key_that_is_not_printable_ascii_up_to_255_is_a_422,
    test_a_key_whose_holder_died_is_taken_over_after_its_lease,
    test_a_refusal_that_changed_nothing_frees_the_key,
    test_a_repeat_while_the_first_is_in_progress_is_a_409,
    test_a_repeated_csv_import_is_recognised_whatever_its_multipart_boundary,
    test_a_repeated_send_answers_the_same_bytes_and_sends_once,
    test_another_business_s_same_key_is_its_own,
    test_keys_older_than_a_day_are_deleted_and_free_again,
    test_outbound_runs_are_created_and_started_once,
    test_the_same_key_with_another_body_is_a_422_naming_the_header,
    test_the_work_s_commit_marks_the_key_in_its_own_transaction,
    test_without_the_header_every_request_is_carried_out,
    test_work_committed_but_its_answer_lost_is_never_done_again,
    test_work_whose_key_was_taken_over_rolls_back,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("whatsapp_queues")]
WAIT_S = 30


def test_a_repeat_racing_the_first_is_a_409_then_gets_the_first_s_answer(
    client, pg: Settings
) -> None:
    business = make_business()
    conversation = rows.written_conversation(business.id)
    path = f"/api/v1/conversations/{conversation.id}/messages"
    body = b'{"body": "Racing the retry."}'
    headers = _keyed(business.api_key, "race")
    dsn = pg.database_url.replace("postgresql+psycopg://", "postgresql://")

    with (
        psycopg.connect(dsn) as holder,
        psycopg.connect(dsn, autocommit=True) as watcher,
        ThreadPoolExecutor(1) as pool,
    ):
        # The first request claims its key, then waits on the conversation's row to send.
        holder.execute(
            "SELECT 1 FROM whatsapp_conversations WHERE id = %s FOR UPDATE", (conversation.id,)
        )
        first = pool.submit(client.post, path, content=body, headers=headers)

        def first_waits_for_the_row() -> bool:
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE whatsapp_conversations%'"
            )
            return watcher.execute(query).fetchone() == (1,)

        wait_for(first_waits_for_the_row, timeout=WAIT_S, what="the first request's send")
        racing = client.post(path, content=body, headers=headers)
        holder.rollback()
        answered = first.result(timeout=WAIT_S)

    assert racing.status_code == 409 and "in progress" in racing.json()["detail"]
    assert answered.status_code == 202
    repeat = client.post(path, content=body, headers=headers)
    assert (repeat.status_code, repeat.content) == (202, answered.content)
    assert _count(business.id, WhatsAppMessage, WhatsAppMessage.direction == "out") == 1
    assert _count(business.id, Job, Job.actor_name == "send_whatsapp_message_job") == 1
