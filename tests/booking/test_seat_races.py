"""Seats under races: many travellers pick at the same moment, each on their own database
connection, and "one live hold or sale per seat per departure" still holds.

Threads of one trip queue on the trip's row lock; threads of different trips (different
groups on the same train) do not, and there only the partial unique index
``one_live_allocation_per_seat`` decides. Either way exactly one pick of a seat wins and
every other gets ``SeatTaken``. The threaded tests need PostgreSQL (real row locks and
concurrent connections; SQLite serialises writers and would prove nothing); the websocket
race runs on both.
"""

import asyncio
import random
import threading
from collections import Counter

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection, connections
from django.test import override_settings

from booking import plan
from booking.errors import NoBlockFits, SeatTaken
from booking.models import Seat, SeatAllocation
from config.routing import websocket_urlpatterns
from groups.services import group_update
from tests import factories

THREADS = 30
on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
needs_postgres = pytest.mark.skipif(
    not on_postgres,
    reason="needs PostgreSQL (DATABASE_URL): concurrent connections and row locks; "
    "SQLite serialises every writer, so a race there proves nothing",
)

pytestmark = pytest.mark.django_db(transaction=True)


# --- Helpers -------------------------------------------------------------------------------


def crew(travellers: int, departures=None):
    """A trip with ``travellers`` active members (past the default group size) whose
    outbound poll offers ``departures`` (new ones when None). Returns (trip, people,
    departures)."""
    if departures is None:
        trip, people, departures = factories.planned_trip(travellers=1, options=2)
    else:
        organiser = factories.user("Olivia Organiser")
        trip = factories.trip(organiser=organiser, days_ahead=3)
        plan.poll_propose(
            trip_id=trip.pk,
            by=organiser,
            leg="outbound",
            departure_ids=[d.pk for d in departures],
        )
        people = [organiser]
    limit = max(travellers, settings.SIDEBYSIDE["GROUP_MAX_MEMBERS_LIMIT"])
    with override_settings(SIDEBYSIDE={**settings.SIDEBYSIDE, "GROUP_MAX_MEMBERS_LIMIT": limit}):
        group_update(group_id=trip.group_id, by=people[0], max_members=max(travellers, 2))
    people += [factories.member(trip, f"Friend {n}") for n in range(1, travellers)]
    trip.refresh_from_db()
    return trip, people, departures


def seats_of(departure, comfort="second") -> list[Seat]:
    return list(
        Seat.objects.filter(coach__vehicle=departure.vehicle, comfort_class=comfort).order_by(
            "coach__number", "number"
        )
    )


def race(calls) -> list[tuple[str, object]]:
    """Run every call in its own thread and database connection, all released at once by
    a barrier. Returns ("ok", result) or ("error", exception) per call, in order."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)
    not_started: list[Exception] = []

    def run(index, call):
        try:
            try:
                connection.ensure_connection()  # connect before the start line, not after
            except Exception as exc:
                not_started.append(exc)
                barrier.abort()  # the others stop waiting: the race cannot be run
                return
            barrier.wait(timeout=30)
            outcomes[index] = ("ok", call())
        except Exception as exc:
            outcomes[index] = ("error", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a racing thread did not finish"
    assert not not_started, f"{len(not_started)} thread(s) could not connect: {not_started[0]!r}"
    return outcomes


def pick(trip, user, departure, seat):
    return lambda: plan.seat_pick(
        trip_id=trip.pk, user=user, leg="outbound", seat_id=seat.pk, departure_id=departure.pk
    )


def live_counts_by_seat(departure) -> dict[int, int]:
    """Live (held or sold) allocations per seat of ``departure``, counted in SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT seat_id, COUNT(*) FROM {SeatAllocation._meta.db_table} "
            "WHERE departure_id = %s AND state IN ('held', 'sold') GROUP BY seat_id",
            [departure.pk],
        )
        return dict(cursor.fetchall())


def live_seats_per_traveller() -> dict[tuple[int, int], int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT leg_id, user_id, COUNT(*) FROM {SeatAllocation._meta.db_table} "
            "WHERE state IN ('held', 'sold') AND user_id IS NOT NULL GROUP BY leg_id, user_id"
        )
        return {(leg, user): n for leg, user, n in cursor.fetchall()}


def assert_only_seat_taken(losers):
    unexpected = [exc for kind, exc in losers if not isinstance(exc, SeatTaken)]
    assert not unexpected, f"losers failed otherwise than SeatTaken: {unexpected[:3]!r}"


# --- Threads on the services ---------------------------------------------------------------


@pytest.mark.postgres
@needs_postgres
def test_of_many_members_picking_one_seat_at_once_exactly_one_wins():
    trip, people, (early, _late) = crew(THREADS)
    seat = seats_of(early)[0]
    version = trip.version

    outcomes = race([pick(trip, person, early, seat) for person in people])

    winners = [value for kind, value in outcomes if kind == "ok"]
    assert len(winners) == 1, outcomes
    assert_only_seat_taken([o for o in outcomes if o[0] == "error"])
    assert live_counts_by_seat(early) == {seat.pk: 1}
    holder = SeatAllocation.objects.get(departure=early, state="held")
    assert holder.user_id == winners[0].actor_id
    trip.refresh_from_db()
    assert trip.version == version + 1  # the losers wrote no event


@pytest.mark.postgres
@needs_postgres
def test_many_members_racing_for_a_handful_of_seats_never_share_one():
    trip, people, (early, _late) = crew(THREADS)
    handful = seats_of(early)[:5]
    rng = random.Random(4)
    chosen = [rng.choice(handful) for _ in people]

    outcomes = race([pick(trip, p, early, s) for p, s in zip(people, chosen, strict=True)])

    won = [(p, s) for p, s, o in zip(people, chosen, outcomes, strict=True) if o[0] == "ok"]
    assert_only_seat_taken([o for o in outcomes if o[0] == "error"])
    counts = live_counts_by_seat(early)
    assert set(counts.values()) == {1}
    # Every seat somebody asked for went to exactly one of those who asked for it.
    assert set(counts) == {s.pk for s in chosen}
    assert len(won) == len(counts)
    held = {a.user_id: a.seat_id for a in SeatAllocation.objects.filter(state="held")}
    assert held == {p.pk: s.pk for p, s in won}
    assert set(live_seats_per_traveller().values()) == {1}


@pytest.mark.postgres
@needs_postgres
def test_groups_on_the_same_train_racing_for_one_seat_are_decided_by_the_constraint():
    """Ten trips (ten groups, no lock in common) of three, all on the same departure: only
    the partial unique index stands between them."""
    first, first_people, departures = crew(3)
    trips = [(first, first_people)]
    for _ in range(9):
        other, others, _deps = crew(3, departures)
        trips.append((other, others))
    early = departures[0]
    seat = seats_of(early)[3]

    calls = [pick(trip, person, early, seat) for trip, people in trips for person in people]
    outcomes = race(calls)

    assert sum(kind == "ok" for kind, _value in outcomes) == 1, outcomes
    assert_only_seat_taken([o for o in outcomes if o[0] == "error"])
    assert live_counts_by_seat(early) == {seat.pk: 1}


@pytest.mark.postgres
@needs_postgres
def test_two_groups_picking_many_seats_across_trips_never_double_hold():
    """Two groups of fifteen on one train, each member picking at random among five seats
    at the same moment: across the two trips nothing but the index serialises them."""
    a, a_people, departures = crew(15)
    b, b_people, _deps = crew(15, departures)
    early = departures[0]
    handful = seats_of(early)[:5]
    rng = random.Random(7)
    picks = [
        (trip, p, rng.choice(handful)) for trip, ps in ((a, a_people), (b, b_people)) for p in ps
    ]

    outcomes = race([pick(trip, p, early, s) for trip, p, s in picks])

    assert_only_seat_taken([o for o in outcomes if o[0] == "error"])
    counts = live_counts_by_seat(early)
    assert set(counts.values()) == {1}
    assert set(counts) == {s.pk for _t, _p, s in picks}
    assert sum(kind == "ok" for kind, _v in outcomes) == len(counts)
    assert set(live_seats_per_traveller().values()) == {1}


@pytest.mark.postgres
@needs_postgres
def test_sit_together_racing_with_itself_and_with_picks_never_double_holds():
    """Two groups of four on one train. In each, two members ask "sit us together" at the
    same moment as the two others pick seats by hand, and the other group does the same."""
    a, a_people, departures = crew(4)
    b, b_people, _deps = crew(4, departures)
    early = departures[0]
    second = seats_of(early)
    rng = random.Random(11)

    def together(trip, user):
        return lambda: plan.sit_together(
            trip_id=trip.pk, user=user, leg="outbound", departure_id=early.pk
        )

    calls = []
    for trip, people in ((a, a_people), (b, b_people)):
        calls += [together(trip, people[0]), together(trip, people[1])]
        calls += [pick(trip, p, early, rng.choice(second[:6])) for p in people[2:]]
    outcomes = race(calls)

    failures = [exc for kind, exc in outcomes if kind == "error"]
    assert all(isinstance(exc, SeatTaken | NoBlockFits) for exc in failures), failures
    assert any(kind == "ok" for kind, _v in outcomes)
    counts = live_counts_by_seat(early)
    assert counts and set(counts.values()) == {1}
    assert set(live_seats_per_traveller().values()) == {1}
    # Each seated traveller is a member of the trip whose leg holds the seat.
    for allocation in SeatAllocation.objects.filter(state="held").select_related("leg"):
        members = a_people if allocation.leg.trip_id == a.pk else b_people
        assert allocation.user_id in {p.pk for p in members}


# --- The same race through the websocket -----------------------------------------------------

router = URLRouter(websocket_urlpatterns)
TIMEOUT = 10


async def _frame(communicator, kinds):
    for _ in range(50):
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        if frame["type"] in kinds:
            return frame
    raise AssertionError(f"no frame of {kinds}")


def test_members_picking_one_seat_over_their_sockets_get_one_ack_and_seat_taken_errors():
    clients = 8
    trip, people, (early, _late) = crew(clients)
    seat = seats_of(early)[1]

    async def scenario():
        sockets = []
        for person in people:
            communicator = WebsocketCommunicator(router, f"/ws/trips/{trip.pk}/")
            communicator.scope["user"] = person
            connected, _sub = await communicator.connect(timeout=TIMEOUT)
            assert connected
            await _frame(communicator, {"snapshot"})
            sockets.append(communicator)
        try:
            command = {
                "type": "pick_seat",
                "leg": "outbound",
                "departure_id": early.pk,
                "seat_id": seat.pk,
            }
            await asyncio.gather(
                *(s.send_json_to({**command, "id": n}) for n, s in enumerate(sockets))
            )
            return await asyncio.gather(*(_frame(s, {"ack", "error"}) for s in sockets))
        finally:
            for communicator in sockets:
                await communicator.disconnect()

    answers = async_to_sync(scenario)()

    kinds = Counter(a["type"] for a in answers)
    assert kinds == {"ack": 1, "error": clients - 1}, answers
    assert {a["code"] for a in answers if a["type"] == "error"} == {"seat_taken"}
    assert [a["id"] for a in answers] == list(range(clients))
    winner = next(person for person, a in zip(people, answers, strict=True) if a["type"] == "ack")
    assert live_counts_by_seat(early) == {seat.pk: 1}
    assert SeatAllocation.objects.get(departure=early, state="held").user == winner
