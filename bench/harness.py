"""Shared benchmark machinery: an app server under Daphne on a fresh database, a closed-loop
HTTP load generator, percentiles and the final JSON line.

    with harness.app_server(demo_days=2) as server:          # SQLite in a temp dir
        result = harness.run_load(server, "/bench/floor/", concurrency=8, requests=500)
        print(result.p50_ms, result.rps)

``app_server`` runs ``migrate`` and ``load_demo --days N``, then serves
``bench.asgi_bench:application`` (the app plus the floor view ``/bench/floor/``, see
``bench/floor_urls.py``) under Daphne on a free loopback port, waits for ``/healthz`` and
always stops the server (terminate, then kill). With ``database_url`` (PostgreSQL) the
database is dropped and created again first; only a database whose name starts with
``bench`` is ever dropped. The load generator is stdlib asyncio only: one keep-alive
HTTP/1.1 connection per worker, each worker sending its next request as soon as the last
answer is read, bounded by a request count and by a time limit.

Load generator and server run on the same machine and share its cores: figures are only
comparable within one run, hence the floor endpoint measured beside each benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
FLOOR_PATH = "/bench/floor/"
ASGI_APP = "bench.asgi_bench:application"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/bench_sbs"
# Never dropped, whatever the caller asks (``test`` is the test suite's database).
PROTECTED_DATABASES = {"test", "postgres", "template0", "template1"}
# Variables of the caller's environment that would point the server at another database,
# cache or settings module; the harness sets its own.
_SCRUBBED = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SIDEBYSIDE_VAR_DIR")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# --- Server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def recreate_postgres_database(url: str) -> None:
    """Drop and create the database of ``url`` for a clean run. Refuses any database whose
    name does not start with ``bench`` (and ``test`` above all)."""
    import psycopg
    from psycopg import sql

    name = database_name(url)
    if not name or name in PROTECTED_DATABASES or not name.startswith("bench"):
        raise SystemExit(
            f"refusing to drop the database {name!r}: a benchmark only drops and recreates "
            "a database whose name starts with 'bench' (e.g. .../bench_sbs)"
        )
    parts = urlsplit(url)
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log(f"PostgreSQL database {name!r} dropped and created")


def _migrations_digest() -> str:
    """A digest of every migration file of the project: a template database is reused
    only for the schema it was migrated to."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _admin_connect(url: str):
    import psycopg

    parts = urlsplit(url)
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    return psycopg.connect(admin_url, autocommit=True, connect_timeout=10)


def postgres_database_from_template(url: str) -> bool:
    """Like ``recreate_postgres_database``, but copied from a template database migrated
    by an earlier run (``<name>_tpl_<digest of the migrations>``) when there is one: a
    copy takes a second where ``migrate`` takes half a minute on a loaded machine.
    Returns True when copied (already migrated); False: an empty database, to migrate,
    then ``postgres_template_save``. Templates of other migrations are dropped."""
    from psycopg import sql

    name = database_name(url)
    if not name or name in PROTECTED_DATABASES or not name.startswith("bench"):
        recreate_postgres_database(url)  # refuses it, with the reason
    template = f"{name}_tpl_{_migrations_digest()}"
    with _admin_connect(url) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [f"{name}_tpl_%"]
        ).fetchall()
        found = {row[0] for row in rows}
        for stale in found - {template}:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(stale))
            )
        if template not in found:
            conn.close()
            recreate_postgres_database(url)
            return False
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    log(f"PostgreSQL database {name!r} copied from {template!r}")
    return True


def postgres_template_save(url: str) -> None:
    """After ``migrate`` into the fresh database of ``url`` (nobody connected to it: close
    Django's connections first), keep a copy as the template of the next runs."""
    from psycopg import sql

    name = database_name(url)
    template = f"{name}_tpl_{_migrations_digest()}"
    with _admin_connect(url) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(template), sql.Identifier(name)
            )
        )
    log(f"PostgreSQL database {name!r} kept as the template {template!r}")


def server_env(
    *,
    var_dir: Path,
    database_url: str | None = None,
    redis_url: str | None = None,
    debug: bool = True,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every command of a run (migrate, load_demo, Daphne). Without
    ``database_url``, SQLite in ``var_dir``; without ``redis_url``, the in-memory channel
    layer and the local-memory cache. ``DATABASE_CONN_MAX_AGE`` and other settings given by
    the caller's environment are passed through."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["SIDEBYSIDE_VAR_DIR"] = str(var_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("LOG_LEVEL", "WARNING")
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
        # Keys apart from anyone else's on the same Redis (the test suite uses db 0 too).
        env.setdefault("CACHE_PREFIX", "bench-sbs")
        env.setdefault("CHANNELS_PREFIX", "bench-sbs")
    if debug:
        env["DJANGO_DEBUG"] = "1"
    else:
        # Production settings, minus what needs TLS in front.
        env["DJANGO_DEBUG"] = "0"
        env.setdefault("DJANGO_SECRET_KEY", "bench-" + os.urandom(24).hex())
        env.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
        env["DJANGO_SECURE_SSL_REDIRECT"] = "0"
        env["DJANGO_SECURE_COOKIES"] = "0"
    env.update(extra or {})
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run ``manage.py`` with the app's own settings; raises with its output on failure."""
    started = time.monotonic()
    proc = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    log(f"manage.py {' '.join(args)}: {time.monotonic() - started:.1f} s")
    return proc.stdout


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen
    env: dict[str, str]
    database: str  # "sqlite" or "postgresql"
    log_path: Path
    var_dir: Path
    setup_seconds: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server process (all its threads)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)


def http_get(server: Server, path: str, timeout: float = 30) -> tuple[int, bytes]:
    """One plain GET (for set-up and checks, not for load)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_get_json(server: Server, path: str):
    status, body = http_get(server, path)
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
    return json.loads(body)


def wait_healthy(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            status, body = http_get(server, "/healthz", timeout=5)
            if status == 200:
                return
            last = f"{status} {body[:200]!r}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"/healthz not ready after {timeout:.0f} s ({last}):\n{server.log_tail()}")


def start_server(
    env: dict[str, str], *, var_dir: Path, database: str, startup_timeout: float = 60
) -> Server:
    port = free_port()
    log_path = var_dir / "daphne.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [PYTHON, "-m", "daphne", "-b", HOST, "-p", str(port), ASGI_APP],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(HOST, port, process, env, database, log_path, var_dir)
    try:
        wait_healthy(server, timeout=startup_timeout)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def app_server(
    *,
    demo_days: int = 2,
    database_url: str | None = None,
    redis_url: str | None = None,
    debug: bool = True,
    extra_env: dict[str, str] | None = None,
    keep_dir: bool = False,
) -> Iterator[Server]:
    """A fresh database with the demo data, served under Daphne; stopped on the way out."""
    started = time.monotonic()
    var_dir = Path(tempfile.mkdtemp(prefix="sbs-bench-"))
    server = None
    try:
        if database_url:
            recreate_postgres_database(database_url)
        env = server_env(
            var_dir=var_dir,
            database_url=database_url,
            redis_url=redis_url,
            debug=debug,
            extra=extra_env,
        )
        manage(env, "migrate", "--noinput", "-v", "0")
        if not debug:
            # Production settings serve hashed static files from the manifest.
            env["DJANGO_STATIC_ROOT"] = str(var_dir / "static")
            manage(env, "collectstatic", "--noinput", "-v", "0", timeout=300)
        manage(env, "load_demo", "--days", str(demo_days), timeout=600)
        database = "postgresql" if database_url else "sqlite"
        server = start_server(env, var_dir=var_dir, database=database)
        server.setup_seconds = time.monotonic() - started
        log(
            f"server up at {server.base_url} ({database}, "
            f"{'Redis' if redis_url else 'in-memory layer'}, DEBUG={'1' if debug else '0'}) "
            f"after {server.setup_seconds:.1f} s"
        )
        yield server
    finally:
        if server is not None:
            server.stop()
            log("server stopped")
        if keep_dir:
            log(f"kept {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)


def query_counts(server: Server, paths: list[str], timeout: float = 120) -> dict:
    """Queries and SQL time of one request to each path, measured in a separate process on
    the server's database (``bench/query_count.py``), not under load."""
    proc = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "query_count.py"), *paths],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"query_count.py failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- Load -----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks; ``sorted_values`` sorted ascending."""
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass
class LoadResult:
    name: str
    path: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)  # successful requests only
    errors: int = 0
    statuses: Counter = field(default_factory=Counter)
    wall_seconds: float = 0.0
    response_bytes: int = 0  # of the last successful answer
    server_cpu_seconds: float = math.nan
    client_cpu_seconds: float = math.nan
    stopped_by_time: bool = False

    def __post_init__(self):
        self._sorted: list[float] | None = None

    @property
    def sorted_ms(self) -> list[float]:
        if self._sorted is None or len(self._sorted) != len(self.latencies_ms):
            self._sorted = sorted(self.latencies_ms)
        return self._sorted

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.ok / self.wall_seconds if self.wall_seconds else math.nan

    def pct(self, p: float) -> float:
        return percentile(self.sorted_ms, p)

    @property
    def p50_ms(self) -> float:
        return self.pct(50)

    @property
    def p95_ms(self) -> float:
        return self.pct(95)

    @property
    def p99_ms(self) -> float:
        return self.pct(99)

    @property
    def mean_ms(self) -> float:
        return sum(self.latencies_ms) / self.ok if self.ok else math.nan

    @property
    def server_cpu_ms_per_request(self) -> float:
        done = self.ok + self.errors
        return self.server_cpu_seconds * 1000 / done if done else math.nan

    @property
    def server_cpu_percent(self) -> float:
        return 100 * self.server_cpu_seconds / self.wall_seconds if self.wall_seconds else math.nan

    @property
    def client_cpu_percent(self) -> float:
        return 100 * self.client_cpu_seconds / self.wall_seconds if self.wall_seconds else math.nan


class _Connection:
    """One keep-alive HTTP/1.1 connection, just enough of the protocol for GETs."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def get(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader, writer = self.reader, self.writer
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip().lower()
        if b"content-length" in headers:
            body = await reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    break
                chunks.append((await reader.readexactly(size + 2))[:-2])
            body = b"".join(chunks)
        else:
            body = await reader.read()
            headers[b"connection"] = b"close"
        if headers.get(b"connection") == b"close":
            await self.close()
        return status, body


def encode_gets(host: str, port: int, paths: list[str]) -> list[bytes]:
    """Plain keep-alive GETs of ``paths``, as ``run_encoded`` sends them."""
    return [
        (
            f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
            "User-Agent: sidebyside-bench\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        for p in paths
    ]


async def _load(
    host: str,
    port: int,
    encoded: list[bytes],
    *,
    concurrency: int,
    requests: int,
    max_seconds: float,
    request_timeout: float,
    result: LoadResult,
) -> None:
    issued = 0
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        nonlocal issued
        conn = _Connection(host, port)
        try:
            while issued < requests:
                if time.perf_counter() >= deadline:
                    result.stopped_by_time = True
                    return
                request = encoded[issued % len(encoded)]
                issued += 1
                t0 = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(conn.get(request), request_timeout)
                except (
                    OSError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    TimeoutError,
                    ValueError,
                ) as exc:
                    result.errors += 1
                    result.statuses[type(exc).__name__] += 1
                    await conn.close()
                    continue
                elapsed_ms = (time.perf_counter() - t0) * 1000
                result.statuses[status] += 1
                if status == 200:
                    result.latencies_ms.append(elapsed_ms)
                    result.response_bytes = len(body)
                else:
                    result.errors += 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def run_encoded(
    server: Server,
    encoded: list[bytes],
    *,
    name: str,
    path: str,
    concurrency: int = 8,
    requests: int | None = None,
    max_seconds: float = 60,
    request_timeout: float = 30,
) -> LoadResult:
    """Closed loop: ``concurrency`` workers, each on its own keep-alive connection, send
    ``requests`` raw HTTP requests in all (cycling through ``encoded``; by default each
    once), or stop at ``max_seconds``. Only 200s count as done."""
    result = LoadResult(name, path, concurrency)
    cpu0, client0, t0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    asyncio.run(
        _load(
            server.host,
            server.port,
            encoded,
            concurrency=concurrency,
            requests=len(encoded) if requests is None else requests,
            max_seconds=max_seconds,
            request_timeout=request_timeout,
            result=result,
        )
    )
    result.wall_seconds = time.perf_counter() - t0
    result.client_cpu_seconds = time.process_time() - client0
    result.server_cpu_seconds = server.cpu_seconds() - cpu0
    return result


def run_load(
    server: Server,
    path: str | list[str],
    *,
    name: str | None = None,
    concurrency: int = 8,
    requests: int = 1000,
    max_seconds: float = 60,
    warmup: int = 20,
    request_timeout: float = 30,
) -> LoadResult:
    """Closed loop: ``concurrency`` workers, each on its own keep-alive connection, send
    ``requests`` GETs in all (cycling through ``path`` if a list), or stop at
    ``max_seconds``. ``warmup`` requests first, not recorded. Only 200s count as done."""
    paths = [path] if isinstance(path, str) else list(path)
    encoded = encode_gets(server.host, server.port, paths)
    if warmup:
        scratch = run_encoded(
            server,
            encoded,
            name="warmup",
            path=paths[0],
            concurrency=min(concurrency, warmup),
            requests=warmup,
            max_seconds=max_seconds,
            request_timeout=request_timeout,
        )
        if scratch.errors:
            raise RuntimeError(f"warm-up of {paths[0]} failed: {dict(scratch.statuses)}")
    return run_encoded(
        server,
        encoded,
        name=name or paths[0],
        path=paths[0],
        concurrency=concurrency,
        requests=requests,
        max_seconds=max_seconds,
        request_timeout=request_timeout,
    )


# --- Output ---------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 1) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:,.{digits}f}")
    )


def print_table(results: list[LoadResult], *, floor_rps: float | None = None) -> None:
    headers = ["endpoint", "ok", "err", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    headers += ["KiB", "srv CPU ms/req", "srv CPU %", "gen CPU %"]
    if floor_rps:
        headers.append("vs floor")
    rows = []
    for r in results:
        row = [
            r.name,
            str(r.ok),
            str(r.errors),
            _fmt(r.rps, 0),
            _fmt(r.p50_ms, 2),
            _fmt(r.p95_ms, 2),
            _fmt(r.p99_ms, 2),
            _fmt(r.sorted_ms[-1] if r.ok else math.nan, 2),
            _fmt(r.response_bytes / 1024, 1),
            _fmt(r.server_cpu_ms_per_request, 2),
            _fmt(r.server_cpu_percent, 0),
            _fmt(r.client_cpu_percent, 0),
        ]
        if floor_rps:
            row.append(f"{r.rps / floor_rps:.3f}")
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells):
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    for r in results:
        if r.errors:
            print(f"  {r.name}: answers other than 200: {dict(r.statuses)}")
        if r.stopped_by_time:
            print(f"  {r.name}: stopped by the time limit before its request count")


def rounded(value: float, digits: int = 2) -> float | None:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return None
    return round(value, digits)


def print_json_line(data: dict) -> None:
    """The last line of every benchmark: one JSON object, machine-readable."""
    print(json.dumps(data, sort_keys=False, separators=(", ", ": ")), flush=True)


def machine() -> dict:
    return {
        "cpus": cpu_count(),
        "python": sys.version.split()[0],
        "note": "load generator and server share the same cores",
    }
