"""The Redis cache's connection pool is one per process, not one per asynchronous context:
each websocket of the live plan (its own asyncio task) used to open its own pool and
connection for its first command's rate-limit count (core/redis_pool.py)."""

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import caches

pytestmark = pytest.mark.skipif(
    "RedisCache" not in settings.CACHES["default"]["BACKEND"],
    reason="needs the Redis cache (REDIS_URL)",
)


def _pool_id() -> int:
    return id(caches["default"]._cache._get_connection_pool(True))


def test_every_socket_task_counts_through_one_pool():
    async def socket_task() -> set[int]:
        return {await sync_to_async(_pool_id, thread_sensitive=False)() for _ in range(3)}

    async def main() -> list[set[int]]:
        # Each socket's task starts from a context of its own, as a new connection does.
        tasks = [
            asyncio.create_task(socket_task(), context=contextvars.Context()) for _ in range(4)
        ]
        return await asyncio.gather(*tasks)

    # In a thread of its own: a browser test earlier in the run may leave this thread's
    # event loop running (Playwright's), where asyncio.run() refuses to start.
    with ThreadPoolExecutor(max_workers=1) as thread:
        pools = set().union(*thread.submit(asyncio.run, main()).result())
    assert len(pools) == 1, f"{len(pools)} pools for 4 sockets"
    caches["default"].set("redis-pool-test", 1, 5)
    assert caches["default"].get("redis-pool-test") == 1
