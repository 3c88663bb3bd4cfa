"""Migration 0035: the idempotency keys already held, whose request hashes were plain SHA-256,
are rehashed as the API now hashes (keyed): no plain fingerprint of a body is left, and a
retry of a request sent before the migration still matches its key."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest
from alembic import command
from starlette.requests import Request
from starlette.types import Message

from switchboard.api import idempotency
from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.migrate import alembic_config
from switchboard.common.models import IdempotencyKey
from switchboard.common.settings import Settings
from tests.support.factories import make_business, unique_phone

pytestmark = pytest.mark.integration

PATH = "/api/v1/erasures"


def _migrate(target: str, *, down: bool = False) -> None:
    with get_engine().connect() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), target)
        conn.commit()


def _plain_sha256(body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (b"POST", PATH.encode(), b""):
        digest.update(b"%d:%s" % (len(part), part))
    digest.update(body)
    return digest.hexdigest()


def _api_hash(body: bytes) -> str:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    return asyncio.run(idempotency._request_hash(Request(scope, receive)))


def test_held_request_hashes_are_keyed_as_the_api_hashes_now(new_database: Settings) -> None:
    business = make_business()
    body = b'{"phone": "%s"}' % unique_phone().encode()
    _migrate("0033", down=True)
    with tenant_session(business.id) as session:
        row = IdempotencyKey(
            business_id=business.id,
            key="erase-1",
            request_hash=_plain_sha256(body),
            token="0" * 32,
            lease_until=utcnow() + timedelta(seconds=60),
            work_committed=True,
            status_code=202,
            body=b"{}",
        )
        session.add(row)
        session.flush()
        row_id = row.id

    _migrate("head")

    with tenant_session(business.id) as session:
        migrated = session.get(IdempotencyKey, row_id)
        assert migrated is not None
        assert migrated.request_hash == _api_hash(body) != _plain_sha256(body)
