"""No stale socket: an event committed while a socket connects reaches it exactly once,
and an event whose broadcast never left (its process died between the commit and the
publish) is announced by the next heartbeat's answer."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from booking import live, plan, plan_selectors
from booking.models import Seat, Trip
from tests import factories
from tests.booking.test_live_consumer import TIMEOUT, receive, socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def planned():
    trip, people, (early, _late) = factories.planned_trip(travellers=3)
    seats = list(
        Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second").order_by(
            "coach__number", "number"
        )
    )
    return trip, people, early, seats


def pick(trip, user, departure, seat):
    """A pick through the service, broadcast after commit as from any door."""
    return plan.seat_pick(
        trip_id=trip.pk, user=user, leg="outbound", departure_id=departure.pk, seat_id=seat.pk
    )


def hook_once(monkeypatch, name, *, before=None, after=None):
    """Run ``before`` / ``after`` around the first call of ``plan_selectors.<name>``: the
    read the consumer makes while a socket connects."""
    real = getattr(plan_selectors, name)
    calls = []

    def hooked(**kwargs):
        first = not calls
        calls.append(kwargs)
        if first and before:
            before()
        result = real(**kwargs)
        if first and after:
            after()
        return result

    monkeypatch.setattr(plan_selectors, name, hooked)


@pytest.mark.parametrize(
    ("selector", "query"), [("plan_snapshot", ""), ("events_since", "version={base}")]
)
def test_an_event_committed_right_after_the_connect_read_reaches_the_socket(
    planned, monkeypatch, selector, query
):
    trip, (olivia, ana, _ben), early, seats = planned
    base = trip.version
    hook_once(monkeypatch, selector, after=lambda: pick(trip, olivia, early, seats[0]))

    async def scenario():
        a = socket(ana, trip.pk, query.format(base=base))
        assert (await a.connect())[0]
        first = await receive(a, "resync" if query else "snapshot")
        event = await receive(a, "event")
        await a.disconnect()
        return first, event

    first, event = async_to_sync(scenario)()
    assert first["version"] == base
    assert (event["version"], event["kind"]) == (base + 1, "seat_held")


@pytest.mark.parametrize(
    ("selector", "query"), [("plan_snapshot", ""), ("events_since", "version={base}")]
)
def test_an_event_the_first_frame_covers_is_not_sent_again(planned, monkeypatch, selector, query):
    trip, (olivia, ana, ben), early, seats = planned
    base = trip.version
    # Committed (and broadcast) after the socket joined the trip's group, before the read.
    hook_once(monkeypatch, selector, before=lambda: pick(trip, olivia, early, seats[0]))

    async def scenario():
        a = socket(ana, trip.pk, query.format(base=base))
        assert (await a.connect())[0]
        first = await receive(a, "resync" if query else "snapshot")
        await database_sync_to_async(pick)(trip, ben, early, seats[1])
        event = await receive(a, "event")
        await a.disconnect()
        return first, event

    first, event = async_to_sync(scenario)()
    assert first["version"] == base + 1
    if query:
        assert [e["version"] for e in first["events"]] == [base + 1]
    # The next event is the one after the first frame's: the pick it covers is not repeated.
    assert event["version"] == base + 2


def test_a_refused_socket_gets_no_event_queued_while_it_connected(planned, monkeypatch):
    trip, (olivia, _ana, _ben), early, seats = planned
    stranger = factories.user()
    hook_once(monkeypatch, "plan_snapshot", before=lambda: pick(trip, olivia, early, seats[0]))

    async def scenario():
        s = socket(stranger, trip.pk)
        await s.connect()
        frames = []
        while True:
            frame = await s.receive_output(timeout=TIMEOUT)
            frames.append(frame)
            if frame["type"] == "websocket.close":
                return frames

    frames = async_to_sync(scenario)()
    texts = [f.get("text", "") for f in frames if f["type"] == "websocket.send"]
    assert len(texts) == 1 and "trip_not_found" in texts[0]


def test_a_heartbeat_answer_tells_a_client_of_an_event_never_broadcast(planned):
    trip, (olivia, ana, _ben), early, seats = planned
    base = trip.version

    def pick_whose_broadcast_is_lost():
        # Committed; its broadcast is collected and never sent, as when the process that
        # made it is killed between the commit and the publish.
        with live.outbox() as lost:
            pick(trip, olivia, early, seats[0])
        assert [group for group, _message in lost].count(live.trip_group(trip.pk)) == 1

    async def scenario():
        a = socket(ana, trip.pk)
        assert (await a.connect())[0]
        snapshot = await receive(a, "snapshot")
        await database_sync_to_async(pick_whose_broadcast_is_lost)()
        await a.send_json_to({"type": "ping", "id": "hb"})
        pong = await receive(a, "pong")
        # Behind: the client asks for what it missed.
        await a.send_json_to({"type": "snapshot", "id": "catch-up"})
        fresh = await receive(a, "snapshot")
        await a.disconnect()
        return snapshot, pong, fresh

    snapshot, pong, fresh = async_to_sync(scenario)()
    assert snapshot["version"] == base
    assert pong == {"type": "pong", "id": "hb", "version": base + 1}
    assert fresh["version"] == base + 1 == Trip.objects.get(pk=trip.pk).version
    held = fresh["legs"][0]["seats"]
    assert [(s["user_id"], s["seat_id"]) for s in held] == [(olivia.pk, seats[0].pk)]
