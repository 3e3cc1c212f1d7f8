"""One Redis connection pool per address for the whole process, for Django's Redis cache
(``CACHES["default"]["OPTIONS"]["pool_class"]``).

Django keeps a cache backend per thread and per asynchronous context, and each backend
opens its own pool: in the live plan's server every websocket (its own asyncio task, so
its own context) made a pool and a fresh Redis connection on its first command (the
person's rate limit, ``booking.commands``), and closed it when the pool was collected. A
connection set-up (connect, then the client's hello commands) for a counter increment
of one round trip; bench/RESULTS.md, session 8. redis-py's pools are thread-safe and
open connections again after a fork, so one per address and options is enough."""

import threading

from redis import ConnectionPool


class SharedConnectionPool(ConnectionPool):
    _shared: dict[tuple[str, str], ConnectionPool] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs) -> ConnectionPool:
        key = (url, repr(sorted(kwargs.items())))
        with cls._shared_lock:
            pool = cls._shared.get(key)
            if pool is None:
                pool = cls._shared[key] = super().from_url(url, **kwargs)
            return pool
