"""Seat contention: many travellers, each on their own websocket, race for a few seats of
one departure at the same moment, over real Daphne servers, PostgreSQL and Redis.

    .venv/bin/python bench/seat_contention.py --quick     # 300 clients, 30 seats
    .venv/bin/python bench/seat_contention.py             # 1,000 clients, 100 seats

Set-up (not measured): a fresh PostgreSQL database (``BENCH_DATABASE_URL``, default
postgres://postgres@127.0.0.1:5432/bench_sbs, dropped and created again; only a database
named bench* is ever dropped) with the demo catalog; ``clients`` travellers in trips of
``--members`` (8), every trip settled on the same departure; ``--seats`` free
second-class seats of it form the pool. Two Daphne processes (``--servers``) share
PostgreSQL and Redis (``REDIS_URL``, default the local one), so picks really race in the
database (one process runs its database work on one thread) and the partial unique index
decides between trips.

The race: every client connects to the trip socket (round robin over the servers) and
waits for its snapshot; then all send ``pick_seat`` at once, each for a random seat of the
pool. A client answered ``seat_taken`` tries another random seat of the pool it has not
tried yet, at most ``--retries`` (2) more times; an ``ack`` makes it a winner and it stops.
Latency: a command sent → its answer (ack or error) read, for every attempt.

Then, in SQL: ``winners`` = travellers holding a seat of the pool (must equal the seats:
with 1,000 clients for 100 seats every seat is asked for), ``double_holds`` = seats with
more than one live allocation (must be 0), and travellers holding more than one seat on
the leg (must be 0). Ends with one JSON line; exits 1 when a check fails.
"""

import argparse
import asyncio
import math
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness, live_common  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="under a minute, set-up included")
    parser.add_argument("--clients", type=int, help="racing clients (default 1000; --quick 300)")
    parser.add_argument("--seats", type=int, help="seats in the pool (default 100; --quick 30)")
    parser.add_argument("--members", type=int, default=8, help="travellers per trip (8)")
    parser.add_argument("--retries", type=int, default=2, help="more tries after seat_taken")
    parser.add_argument("--servers", type=int, default=2, help="Daphne processes (2)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.clients = args.clients or (300 if args.quick else 1000)
    args.seats = args.seats or (30 if args.quick else 100)
    if not (1 <= args.seats <= 400 and args.seats <= args.clients <= 5000):
        parser.error("--seats 1..400, --clients seats..5000")
    if not (2 <= args.members <= 20 and 1 <= args.servers <= 4 and 0 <= args.retries <= 10):
        parser.error("--members 2..20, --servers 1..4, --retries 0..10")
    return args


class Client:
    def __init__(self, index, trip, member, server, cookie_name):
        self.index = index
        self.trip = trip
        self.user_id = member["user_id"]
        self.cookie = member["session"]
        self.server = server
        self.cookie_name = cookie_name
        self.ws = None
        self.snapshot = None
        self.answers: dict[str, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None

    async def connect(self, http):
        self.ws = await live_common.ws_connect(
            http,
            self.server,
            f"/ws/trips/{self.trip['trip_id']}/",
            self.cookie,
            self.cookie_name,
        )
        self.snapshot = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self.read())
        await asyncio.wait_for(self.snapshot, 60)

    async def read(self):
        try:
            async for message in self.ws:
                self.dispatch(live_common.loads(message.data))
        finally:
            closed = ConnectionError(f"socket closed ({self.ws.close_code})")
            for future in self.answers.values():
                if not future.done():
                    future.set_exception(closed)
            if self.snapshot is not None and not self.snapshot.done():
                self.snapshot.set_exception(closed)

    def dispatch(self, frame):
        if True:
            kind = frame.get("type")
            if kind == "snapshot" and not self.snapshot.done():
                self.snapshot.set_result(frame)
            elif kind in ("ack", "error"):
                future = self.answers.pop(str(frame.get("id")), None)
                if future is not None and not future.done():
                    future.set_result((time.perf_counter(), frame))

    async def command(self, request_id: str, payload: dict) -> tuple[float, dict]:
        future = asyncio.get_running_loop().create_future()
        self.answers[request_id] = future
        sent = time.perf_counter()
        await self.ws.send_json({"id": request_id, **payload})
        answered, frame = await asyncio.wait_for(future, 60)
        return (answered - sent) * 1000, frame


async def race(args, cl: live_common.Cluster) -> dict:
    rng = random.Random(args.seed)
    members = [(t, m) for t in cl.data["trips"] for m in t["members"]][: args.clients]
    cookie_name = cl.data["cookie_name"]
    clients = [
        Client(i, t, m, cl.servers[i % len(cl.servers)], cookie_name)
        for i, (t, m) in enumerate(members)
    ]
    pool = cl.data["trips"][0]["seats"]
    departure_id = cl.data["trips"][0]["departure_id"]
    latencies: list[float] = []
    outcome = {"winners": 0, "seat_taken": 0, "other_errors": {}, "attempts": 0}

    async def run(client: Client, start: asyncio.Event):
        untried = list(pool)
        rng.shuffle(untried)
        await start.wait()
        for attempt in range(1 + args.retries):
            if not untried:
                return
            seat_id = untried.pop()
            ms, frame = await client.command(
                f"{client.index}-{attempt}",
                {
                    "type": "pick_seat",
                    "leg": "outbound",
                    "departure_id": departure_id,
                    "seat_id": seat_id,
                },
            )
            latencies.append(ms)
            outcome["attempts"] += 1
            if frame["type"] == "ack":
                outcome["winners"] += 1
                return
            if frame.get("code") == "seat_taken":
                outcome["seat_taken"] += 1
                continue
            code = frame.get("code", "?")
            outcome["other_errors"][code] = outcome["other_errors"].get(code, 0) + 1
            return

    async with live_common.client_session() as http:
        t0 = time.perf_counter()
        await live_common.gather_limited((c.connect(http) for c in clients), 32)
        connect_s = time.perf_counter() - t0
        harness.log(f"{len(clients)} clients connected in {connect_s:.1f} s")
        await asyncio.sleep(1.0)  # let the presence broadcasts of the connections settle
        start = asyncio.Event()
        tasks = [asyncio.create_task(run(c, start)) for c in clients]
        t0 = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        race_s = time.perf_counter() - t0
        for c in clients:
            await c.ws.close()
            c.reader.cancel()
    latencies.sort()
    outcome.update(latencies=latencies, connect_seconds=connect_s, race_seconds=race_s, pool=pool)
    outcome["departure_id"] = departure_id
    return outcome


def sql_checks(database_url: str, departure_id: int, pool: list[int]) -> dict:
    import psycopg

    dsn = database_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        double = conn.execute(
            "SELECT COUNT(*) FROM (SELECT seat_id FROM booking_seatallocation "
            "WHERE departure_id = %s AND state IN ('held', 'sold') "
            "GROUP BY seat_id HAVING COUNT(*) > 1) AS d",
            [departure_id],
        ).fetchone()[0]
        holders = conn.execute(
            "SELECT COUNT(DISTINCT user_id) FROM booking_seatallocation "
            "WHERE departure_id = %s AND state = 'held' AND user_id IS NOT NULL "
            "AND seat_id = ANY(%s)",
            [departure_id, pool],
        ).fetchone()[0]
        held_seats = conn.execute(
            "SELECT COUNT(DISTINCT seat_id) FROM booking_seatallocation "
            "WHERE departure_id = %s AND state = 'held' AND seat_id = ANY(%s)",
            [departure_id, pool],
        ).fetchone()[0]
        multi = conn.execute(
            "SELECT COUNT(*) FROM (SELECT leg_id, user_id FROM booking_seatallocation "
            "WHERE state IN ('held', 'sold') AND user_id IS NOT NULL "
            "GROUP BY leg_id, user_id HAVING COUNT(*) > 1) AS m"
        ).fetchone()[0]
    return {
        "double_holds": double,
        "holders": holders,
        "held_seats": held_seats,
        "multi_seat_travellers": multi,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    trips = math.ceil(args.clients / args.members)
    populate = ["--trips", str(trips), "--members", str(args.members)]
    populate += ["--shared-seats", str(args.seats)]
    with live_common.cluster(servers=args.servers, demo_days=2, populate_args=populate) as cl:
        try:
            result = asyncio.run(race(args, cl))
        except BaseException:
            for server in cl.servers:
                lines = server.log_path.read_text(errors="replace").splitlines()
                lines = [x for x in lines if '"WS' not in x and "HANDSHAKING" not in x]
                harness.log(f"log of {server.base_url}:\n" + "\n".join(lines[-60:]))
            raise
        setup_seconds = cl.setup_seconds
        checks = sql_checks(live_common.urls()[0], result["departure_id"], result["pool"])
        server_cpu = [round(s.cpu_seconds(), 1) for s in cl.servers]
    lat = result["latencies"]
    p50, p99 = harness.percentile(lat, 50), harness.percentile(lat, 99)
    ok = (
        checks["double_holds"] == 0
        and checks["multi_seat_travellers"] == 0
        and result["winners"] == args.seats == checks["holders"] == checks["held_seats"]
        and not result["other_errors"]
    )
    print()
    print(
        f"PostgreSQL + Redis, {args.servers} Daphne process(es), DJANGO_DEBUG=0; "
        f"{args.clients} clients in trips of {args.members} race for {args.seats} seats of one "
        f"departure, up to {1 + args.retries} tries each; {harness.cpu_count()} cores shared "
        "by servers, database and clients"
    )
    print(
        f"winners (acks) {result['winners']}, holders in SQL {checks['holders']} on "
        f"{checks['held_seats']} seats, double holds {checks['double_holds']}, travellers "
        f"with two seats {checks['multi_seat_travellers']}; seat_taken answers "
        f"{result['seat_taken']}, other errors {result['other_errors'] or 0}"
    )
    print(
        f"{result['attempts']} pick commands answered in {result['race_seconds']:.2f} s "
        f"({result['attempts'] / result['race_seconds']:.0f}/s): p50 {p50:.1f} ms, "
        f"p95 {harness.percentile(lat, 95):.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms"
    )
    print(
        f"connect {result['connect_seconds']:.1f} s; server CPU {server_cpu} s; set-up "
        f"{setup_seconds:.1f} s, total {time.monotonic() - started:.1f} s; "
        f"verdict: {'OK' if ok else 'FAILED'}"
    )
    r = harness.rounded
    harness.print_json_line(
        {
            "benchmark": "seat_contention",
            "winners": result["winners"],
            "double_holds": checks["double_holds"],
            "p99_ms": r(p99),
            "p50_ms": r(p50),
            "seats": args.seats,
            "clients": args.clients,
            "servers": args.servers,
            "attempts": result["attempts"],
            "seat_taken": result["seat_taken"],
            "other_errors": sum(result["other_errors"].values()),
            "holders_sql": checks["holders"],
            "multi_seat_travellers": checks["multi_seat_travellers"],
            "race_seconds": r(result["race_seconds"]),
            "ok": ok,
            "cpus": harness.cpu_count(),
            "loadavg_before": round(load_before, 2),
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
