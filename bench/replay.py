"""Replay: a replay's deliveries per second beside the same worker draining as many plain deliveries.

20,000 events (``--quick``: 3,000) in one account.  Plain: a delivery per event, all pending and
enqueued at once, as a backlog the worker drains.  Replay: ``auditTrailReplay``'s domain function
over the same events; the worker's replay cron enqueues them a batch
(``AUDITTRAIL_REPLAY_BATCH_SIZE``) at a time, each batch once the previous one has left PENDING,
which is what keeps live deliveries from waiting behind it, and what bounds its rate.
Both are counted by the same fast receiver, first to last receipt.
Run alone with ``python -m bench.replay [--quick]``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from api.audit.query import Filters
from api.db import Database
from api.settings import Settings
from api.webhooks import ReplayRequest, start_replay
from bench.deliver import CONCURRENCY, reset_receiver, wait_for_receipts
from bench.harness import Measurement, embedded_stack, receiver_process, run_alone, worker_process
from bench.load import (
    BenchAccount,
    Span,
    create_accounts,
    create_webhook,
    enqueue_pipelined,
    generate_deliveries,
    generate_events,
)


async def start(database_url: str, account: BenchAccount, start_at: datetime, end_at: datetime, total: int) -> None:
    db = Database(database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            request = ReplayRequest(range_from=start_at, range_to=end_at, filters=Filters())
            await start_replay(session, account.account_id, request, max_events=total)
    finally:
        await db.dispose()


def run(quick: bool) -> list[Measurement]:
    total = 3_000 if quick else 20_000
    batch_size = Settings().replay_batch_size
    with embedded_stack() as servers, receiver_process() as receiver_url:
        database_url, redis_url = servers.database_url, servers.redis_url
        accounts = asyncio.run(create_accounts(database_url))
        account = accounts[0]
        webhook_id = asyncio.run(create_webhook(database_url, account, f"{receiver_url}/hook"))
        now = datetime.now(UTC)
        span = Span(now - timedelta(hours=1), now, total)
        asyncio.run(generate_events(database_url, accounts, [span], only_account=account))
        delivery_ids = asyncio.run(generate_deliveries(database_url, account, webhook_id))
        asyncio.run(enqueue_pipelined(redis_url, delivery_ids))
        reset_receiver(receiver_url)
        with worker_process(servers, worker_max_jobs=str(CONCURRENCY)):
            plain_rate = wait_for_receipts(receiver_url, total, label="plain deliveries", timeout=600)
            reset_receiver(receiver_url)
            asyncio.run(start(database_url, account, span.start - timedelta(seconds=1), now, total))
            replay_rate = wait_for_receipts(receiver_url, total, label="replay", timeout=3600)
    return [
        Measurement("replay", f"deliveries/s ({total:,} events, batches of {batch_size})", replay_rate, plain_rate,
                    "req/s", f"(reported: at most {batch_size}/s by design)", True),
    ]  # fmt: skip


if __name__ == "__main__":
    run_alone(run, __doc__)
