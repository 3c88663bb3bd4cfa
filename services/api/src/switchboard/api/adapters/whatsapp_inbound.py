"""The WhatsApp webhook's store on PostgreSQL: messages that arrive together, one round trip.

A webhook hands its message over and awaits its batch: the messages waiting for one business go
to PostgreSQL together, as one call of migration 0005's function (a lone message, through
0003's single-message function, cheaper for one). Both switch to the unprivileged application
role and set the tenant for their transaction only, exactly as ``tenant_session`` does, so
row-level security checks every row, then upsert the conversations and insert the messages,
their ledger rows and outbox rows. A batch leaves as soon as one of ``max_batches`` slots is
free, so a lone message waits for nothing, and under load one commit answers many requests
(group commit); only a committed batch answers its requests. A batch's messages travel as one
JSON parameter that PostgreSQL turns into the function's arrays (``json_to_record``): psycopg's
array dumper escapes each element in Python, a tenth of the webhook's CPU under load, where the
JSON encoder is C. A batch PostgreSQL refuses for something in its data is written again one
message at a time (``whatsapp.batch_refused``), so one bad message fails only its own request.
The batches are written by tasks of their own context, not the request's that started them, so
their lines carry no request's id. The jobs' messages are built here (``prepare_job``);
committed outbox rows go to the API's asynchronous publisher, and whatever it cannot publish
stays for the scheduler's relay. ``switchboard.api.app`` opens it at startup on PostgreSQL.

Which business answers a number is remembered per process, and checked again by every store
in its own statement: the function runs only while the business still has the number. When
an admin has moved it (in any process), the statement stores nothing and says so, and the
messages go again, to the number's business as read then. So a moved number is routed to its
new business from the first message after the move, at no cost while it stays put.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from switchboard.common.db import planner
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import CONNECT_TIMEOUT_S, POOL_TIMEOUT_S
from switchboard.common.jobs.enqueue import PreparedJob
from switchboard.common.jobs.outbox import PendingMessage
from switchboard.common.logging import get_logger
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.inbound import InboundMessage, answer_job, bare_number
from switchboard.domain.whatsapp.inbound_store import InboundStore, NumberNotAnswered

log = get_logger(__name__)

_BUSINESS = "SELECT id FROM businesses WHERE phone_number = %s"
# The functions of migrations 0003 (one message) and 0005 (a batch): the tenant settings and
# the inserts, one statement. A lone message takes the first, which plans and runs faster.
# Each runs only if the business still has the messages' number (``owner``, read before the
# function switches role); otherwise the statement's one row is position 0: "moved".
_OWNER = "WITH owner AS (SELECT id FROM businesses WHERE id = %s AND phone_number = ALL(%s)) "
_MOVED = " UNION ALL SELECT 0, NULL, NULL, NULL WHERE NOT EXISTS (SELECT FROM owner)"
_STORE_ONE = (
    _OWNER + "SELECT 1, s.* FROM owner, LATERAL switchboard_store_inbound_whatsapp("
    "%s, owner.id, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) AS s" + _MOVED
)
# A batch's columns, one JSON object of arrays (``_columns``), as the function's arrays.
_BATCH_OWNER = (
    "WITH m AS (SELECT * FROM json_to_record(%s::json) AS m(contacts text[], "
    "numbers text[], sids text[], bodies text[], jobs text[], payloads text[])), "
    "owner AS (SELECT id FROM businesses, m WHERE id = %s AND phone_number = ALL(m.numbers)) "
)
_STORE_BATCH = (
    _BATCH_OWNER + "SELECT s.* FROM owner, m, LATERAL switchboard_store_inbound_whatsapp_batch("
    "%s, owner.id, m.contacts, m.numbers, m.sids, m.bodies, m.jobs, m.payloads, "
    "%s, %s, %s, %s) AS s" + _MOVED
)
#: The most messages one statement carries.
MAX_BATCH = 100
#: How many times one message follows its number to another business before it gives up.
_MAX_MOVES = 3


class _NumberMoved(Exception):  # noqa: N818 - reads as what happened
    """The business a batch was written for no longer has the messages' number."""


@dataclass
class _Waiting:
    """A message handed over by a webhook, and the future its request awaits."""

    message: InboundMessage
    job: PreparedJob
    answer: asyncio.Future[int | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class PostgresInboundStore(InboundStore):
    """Stores inbound messages in per-business batches through an asyncio psycopg pool."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        publish: Callable[[list[PendingMessage]], object],
        app_role: str,
        *,
        max_batches: int,
    ) -> None:
        self._pool = pool
        self._publish = publish
        self._app_role = app_role
        self._max_batches = max_batches
        self._waiting: dict[int, list[_Waiting]] = {}
        self._writers: set[asyncio.Task[None]] = set()
        #: number -> its business, as last read; every store checks it again.
        self._owners: dict[str, int] = {}

    async def close(self) -> None:
        """Finish the batches under way, then close the pool's connections."""
        while self._writers:
            await asyncio.gather(*self._writers, return_exceptions=True)
        await self._pool.close()

    async def business_for(self, address: str) -> int | None:
        """The business that answers this WhatsApp number: as last read in this process
        (``store`` checks it again), else read now."""
        number = bare_number(address)
        known = self._owners.get(number)
        return known if known is not None else await self._read_owner(number)

    async def _read_owner(self, number: str) -> int | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_BUSINESS, (number,))).fetchone()
        if row is None:
            self._owners.pop(number, None)
            return None
        self._owners[number] = int(row[0])
        return int(row[0])

    async def store(self, business_id: int, message: InboundMessage) -> int | None:
        """Store the message and enqueue its processing once its batch commits; None if seen.

        Stored under the business that has the number when the statement runs: if it moved
        since ``business_id`` was read, under its new business (``NumberNotAnswered`` if none).
        """
        for _ in range(_MAX_MOVES):
            try:
                return await self._store(business_id, message)
            except _NumberMoved:
                found = await self._read_owner(bare_number(message.to_number))
                if found is None:
                    raise NumberNotAnswered("no business answers this number") from None
                business_id = found
        raise NumberNotAnswered("the number kept moving between businesses; try again")

    async def _store(self, business_id: int, message: InboundMessage) -> int | None:
        # The function writes the message's id into the job's message, hence 0 here; its
        # arrival is stored later than now (the statement's time), so now bounds the window.
        job = answer_job(business_id, 0, utcnow())
        waiting = _Waiting(message, job)
        self._waiting.setdefault(business_id, []).append(waiting)
        if len(self._writers) < self._max_batches:
            self._start_writer()
        return await waiting.answer

    def _start_writer(self) -> None:
        # In a context of its own: started by whichever request came first, it writes for many,
        # so its lines (and the libraries' it calls) must not carry that request's ``request_id``.
        writer = asyncio.get_running_loop().create_task(
            self._write_batches(), context=contextvars.Context()
        )
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)

    async def _write_batches(self) -> None:
        """Write waiting batches, one business at a time, until none is left."""
        await asyncio.sleep(0)  # the requests that arrived with the first one join its batch
        while self._waiting:
            business_id = next(iter(self._waiting))
            queue = self._waiting.pop(business_id)
            if len(queue) > MAX_BATCH:  # the rest waits behind the other businesses
                self._waiting[business_id] = queue[MAX_BATCH:]
            await self._write(business_id, queue[:MAX_BATCH])

    async def _write(self, business_id: int, batch: list[_Waiting]) -> None:
        try:
            rows = await self._execute(business_id, batch)
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
            if len(batch) == 1:
                _fail(batch, exc)
                return
            log.info(
                "whatsapp.batch_refused",
                business_id=business_id,
                messages=len(batch),
                error=type(exc).__name__,  # its text may quote a message's data
            )
            for waiting in batch:  # perhaps one message's data: each alone, so only it fails
                await self._write(business_id, [waiting])
            return
        except Exception as exc:  # the database is unreachable: these requests get 503
            _fail(batch, exc)
            return
        if any(row[0] == 0 for row in rows):
            _fail(batch, _NumberMoved())
            return
        answers: dict[int, int] = {}
        committed: list[PendingMessage] = []
        for position, message_id, outbox_id, payload in rows:
            answers[int(position) - 1] = int(message_id)
            if outbox_id is not None:  # None: parked until its business has a free slot
                committed.append((int(outbox_id), str(payload)))
        if committed:
            self._publish(committed)
        for index, waiting in enumerate(batch):
            if not waiting.answer.done():
                waiting.answer.set_result(answers.get(index))

    async def _execute(self, business_id: int, batch: list[_Waiting]) -> list[tuple[Any, ...]]:
        if len(batch) == 1:
            [waiting] = batch
            statement, params = _STORE_ONE, self._one(business_id, waiting)
        else:
            statement, params = _STORE_BATCH, self._many(business_id, batch)
        async with self._pool.connection() as conn:
            rows: list[tuple[Any, ...]] = await (await conn.execute(statement, params)).fetchall()
        return rows

    def _one(self, business_id: int, waiting: _Waiting) -> tuple[Any, ...]:
        message, job = waiting.message, waiting.job
        return (
            business_id,
            [bare_number(message.to_number)],
            self._app_role,
            bare_number(message.from_number),
            bare_number(message.to_number),
            message.message_sid,
            message.body,
            job.message.message_id,
            job.message.queue_name,
            job.message.actor_name,
            job.max_retries,
            job.payload,
            utcnow(),
        )

    def _many(self, business_id: int, batch: list[_Waiting]) -> tuple[Any, ...]:
        first = batch[0].job  # the batch's jobs differ only in id and message
        return (
            _columns(batch),
            business_id,
            self._app_role,
            first.message.queue_name,
            first.message.actor_name,
            first.max_retries,
            utcnow(),
        )


def _columns(batch: list[_Waiting]) -> str:
    """The batch's messages as ``_BATCH_OWNER`` reads them: one JSON array per column."""
    messages = [waiting.message for waiting in batch]
    columns = {
        "contacts": [bare_number(message.from_number) for message in messages],
        "numbers": [bare_number(message.to_number) for message in messages],
        "sids": [message.message_sid for message in messages],
        "bodies": [message.body for message in messages],
        "jobs": [waiting.job.message.message_id for waiting in batch],
        "payloads": [waiting.job.payload for waiting in batch],
    }
    return json.dumps(columns, ensure_ascii=False, separators=(",", ":"))


def _fail(batch: list[_Waiting], error: Exception) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(error)


async def open_postgres_inbound_store(
    settings: Settings, publish: Callable[[list[PendingMessage]], object]
) -> PostgresInboundStore:
    """A store with its own small pool of autocommit connections (filled in the background)."""
    dsn = settings.effective_database_url.replace("postgresql+psycopg://", "postgresql://")
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        dsn,
        min_size=2,
        max_size=settings.whatsapp_db_pool_size,
        # Every statement here finds its rows by key: no plan cached while the tables were
        # small scans them ever after (``db/planner.py``).
        kwargs={
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": planner.session_options(),
        },
        timeout=POOL_TIMEOUT_S,  # then PoolTimeout: the webhook answers 503
        open=False,
        name="whatsapp-inbound",
    )
    await pool.open()
    return PostgresInboundStore(
        pool, publish, settings.db_app_role, max_batches=settings.whatsapp_db_pool_size
    )
