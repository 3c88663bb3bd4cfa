"""The worker's bootstrap picks its stores once, by the database's dialect."""

from __future__ import annotations

import pytest

from switchboard.common.settings import Settings
from switchboard.domain.analysis.conversations import OrmAnalysisStore
from switchboard.domain.whatsapp.replies import OrmReplyStore
from switchboard.domain.whatsapp.sending import OrmSendLedger
from switchboard.worker.adapters.analysis import PostgresAnalysisStore
from switchboard.worker.adapters.whatsapp_replies import PostgresReplyStore
from switchboard.worker.adapters.whatsapp_sending import PostgresSendLedger
from switchboard.worker.bootstrap import stores


@pytest.mark.integration
def test_on_postgresql_the_worker_calls_the_migrations_functions(pg: Settings) -> None:
    picked = stores()

    assert isinstance(picked.replies, PostgresReplyStore)
    assert isinstance(picked.sends, PostgresSendLedger)
    assert isinstance(picked.analysis, PostgresAnalysisStore)
    assert stores() is picked  # picked once for the process's settings


def test_on_sqlite_the_worker_uses_the_domain_s_orm_adapters(embedded: Settings) -> None:
    picked = stores()

    assert type(picked.replies) is OrmReplyStore
    assert type(picked.sends) is OrmSendLedger
    assert type(picked.analysis) is OrmAnalysisStore
    assert stores() is picked
