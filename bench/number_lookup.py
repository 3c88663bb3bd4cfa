"""What remembering a number's business saves on the WhatsApp webhook's store path.

Runs the webhook's store path (``accept_inbound``: the number's business, then the batched
one-statement store) for N messages at a given concurrency on PostgreSQL, three ways in
alternating rounds on one pool:

* remembered (the code): the business as last read in the process, checked again by the
  store's own statement (which follows a moved number);
* read every time: one more ``SELECT`` per message, no memory at all;
* remembered, unchecked (the code before): the check left out of the statement.

Prints each way's median cost per message. Needs PostgreSQL (local default).

    uv run python bench/number_lookup.py --messages 3000 --concurrency 32 --rounds 6
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stopping import stop_cleanly_on_sigterm  # noqa: E402
from switchboard.api.adapters.whatsapp_inbound import (  # noqa: E402
    PostgresInboundStore,
    open_postgres_inbound_store,
)
from switchboard.api.routes.whatsapp_webhook import accept_inbound  # noqa: E402
from switchboard.common.migrate import worker_startup_migrations  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.environment import configured  # noqa: E402
from tests.support.factories import make_business, unique_phone  # noqa: E402

_UNCHECKED_ONE = (
    "SELECT 1, * FROM switchboard_store_inbound_whatsapp("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_UNCHECKED_BATCH = (
    "SELECT * FROM switchboard_store_inbound_whatsapp_batch("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


class ReadEveryTime(PostgresInboundStore):
    """No memory: the number's business is read for every message."""

    async def business_for(self, address: str) -> int | None:
        return await self._read_owner(address.removeprefix("whatsapp:"))


class RememberedUnchecked(PostgresInboundStore):
    """The statements without the owner check (the code before it)."""

    async def _execute(self, business_id: int, batch: list[Any]) -> list[tuple[Any, ...]]:
        if len(batch) == 1:
            checked, statement = self._one(business_id, batch[0]), _UNCHECKED_ONE
        else:
            checked, statement = self._many(business_id, batch), _UNCHECKED_BATCH
        params = (checked[2], checked[0], *checked[3:])  # role, business, then the rest
        async with self._pool.connection() as conn:
            rows: list[tuple[Any, ...]] = await (await conn.execute(statement, params)).fetchall()
        return rows


async def _round(store: PostgresInboundStore, number: str, n: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            params = {
                "MessageSid": f"SM{unique_phone()[1:]}{i}",
                "From": f"whatsapp:{unique_phone()}",
                "To": f"whatsapp:{number}",
                "Body": "hello",
            }
            await accept_inbound(store, params)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return (time.perf_counter() - start) / n * 1e6


async def main(messages: int, concurrency: int, rounds: int) -> None:
    admin = services.admin_database_url()
    url = services.create_database(admin)
    try:
        with configured(database_url=url, amqp_url="", log_level="WARNING") as settings:
            worker_startup_migrations()
            number = make_business().phone_number
            published: list[Any] = []
            code = await open_postgres_inbound_store(settings, published.extend)
            shape = {"max_batches": settings.whatsapp_db_pool_size}
            ways: dict[str, PostgresInboundStore] = {
                "remembered, checked (the code)": code,
                "read every time": ReadEveryTime(
                    code._pool, published.extend, settings.db_app_role, **shape
                ),
                "remembered, unchecked (before)": RememberedUnchecked(
                    code._pool, published.extend, settings.db_app_role, **shape
                ),
            }
            await _round(code, number, 500, concurrency)  # warm-up
            results: dict[str, list[float]] = {name: [] for name in ways}
            for r in range(rounds):
                order = list(ways.items())
                for name, store in order[r % len(order) :] + order[: r % len(order)]:
                    results[name].append(await _round(store, number, messages, concurrency))
            for name, values in results.items():
                each = ", ".join(f"{v:.0f}" for v in values)
                print(f"{name}: {statistics.median(values):.0f} µs/message (rounds {each})")
            await code.close()
    finally:
        services.drop_database(admin, url)


if __name__ == "__main__":
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.concurrency, args.rounds))
