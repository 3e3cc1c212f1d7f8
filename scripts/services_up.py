"""Exit 0 when the PostgreSQL and Redis servers named by the two URLs answer."""

import sys

import psycopg
import redis


def main(database_url: str, redis_url: str) -> int:
    try:
        dsn = database_url.replace("postgres://", "postgresql://", 1)
        with psycopg.connect(dsn, connect_timeout=3):
            pass
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        print(f"not reachable: {exc.__class__.__name__}: {exc}".strip(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
