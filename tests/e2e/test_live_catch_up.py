"""The trip page under failure: it applies events that cross on their way (two server
processes wrote to the trip) in order without a snapshot, asks for one only when the
missing event never comes, and catches up with an event whose broadcast was lost (its
process died after the commit) when the heartbeat's answer says the trip is further on.

The page talks to a real Daphne through Playwright's websocket routing: every frame is
passed through, and the test delivers the frames of events committed without a broadcast
(``live.outbox`` collects them and nothing sends them) in the order it chooses."""

import json

import pytest

from booking import live, plan
from booking.models import Seat
from tests import factories
from tests.e2e.conftest import DESKTOP
from tests.e2e.test_live_plan import _browser_as, _open_plan, _seat, daphne_url  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def silent_pick(trip, user, departure, seat) -> str:
    """Commit a pick and keep its broadcast from leaving; the trip's event frame."""
    with live.outbox() as collected:
        plan.seat_pick(
            trip_id=trip.pk, user=user, leg="outbound", departure_id=departure.pk, seat_id=seat.pk
        )
    (message,) = [m for group, m in collected if group == live.trip_group(trip.pk)]
    return message["text"]


class RoutedSocket:
    """The page's trip socket, routed through the test: frames pass both ways, those the
    page sends are recorded, and the test may send its own to either side."""

    def __init__(self, page, trip):
        self.page = page
        self.sent_by_page: list[dict] = []
        self.first_frames = 0
        self.route = None
        self.server = None
        page.route_web_socket(f"**/ws/trips/{trip.pk}/**", self._connect)

    def _connect(self, route):
        self.route = route
        self.server = route.connect_to_server()
        route.on_message(self._from_page)
        self.server.on_message(self._from_server)

    def _from_server(self, text):
        if json.loads(text).get("type") in ("snapshot", "resync"):
            self.first_frames += 1
        self.route.send(text)

    def wait_first_frame(self):
        """Until the page has its first frame: "live" shows when the socket opens, before
        the server has read what it sends first (a change committed before that read is
        in it)."""
        for _ in range(100):
            if self.first_frames:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError("no first frame")

    def _from_page(self, text):
        self.sent_by_page.append(json.loads(text))
        self.server.send(text)

    def snapshots_asked(self) -> int:
        return sum(1 for frame in self.sent_by_page if frame.get("type") == "snapshot")


@pytest.fixture
def base(request) -> str:
    """Daphne on the test database, as for tests/e2e/test_live_plan.py."""
    return request.getfixturevalue("daphne_url")


@pytest.fixture
def settled_trip():
    trip, (olivia, ana, ben), (early, _late) = factories.planned_trip(travellers=3)
    plan.poll_settle(trip_id=trip.pk, by=olivia, leg="outbound", departure_id=early.pk)
    seats = list(
        Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second").order_by(
            "coach__number", "number"
        )
    )
    return trip, (olivia, ana, ben), early, seats


def test_events_that_cross_are_applied_in_order_without_a_snapshot(browser, base, settled_trip):
    from playwright.sync_api import expect

    trip, (olivia, ana, ben), early, seats = settled_trip
    context, page = _browser_as(browser, base, ana, viewport=DESKTOP)
    try:
        socket = RoutedSocket(page, trip)
        _open_plan(page, base, trip)
        socket.wait_first_frame()
        first = silent_pick(trip, olivia, early, seats[0])
        second = silent_pick(trip, ben, early, seats[1])

        socket.route.send(second)  # arrives first
        page.wait_for_timeout(300)
        expect(_seat(page, seats[1].pk)).to_have_attribute("data-holder", "")  # held back
        socket.route.send(first)
        expect(_seat(page, seats[0].pk)).to_have_attribute("data-holder", str(olivia.pk))
        expect(_seat(page, seats[1].pk)).to_have_attribute("data-holder", str(ben.pk))
        page.wait_for_timeout(2_000)  # past the wait for a missing event
        assert socket.snapshots_asked() == 0

        # An event whose predecessor never comes: after the wait, a snapshot brings both.
        silent_pick(trip, olivia, early, seats[2])
        fourth = silent_pick(trip, ben, early, seats[3])
        socket.route.send(fourth)
        expect(_seat(page, seats[2].pk)).to_have_attribute(
            "data-holder", str(olivia.pk), timeout=4_000
        )
        expect(_seat(page, seats[3].pk)).to_have_attribute("data-holder", str(ben.pk))
        assert socket.snapshots_asked() == 1
    finally:
        context.close()


def test_a_heartbeat_answer_ahead_of_the_page_makes_it_catch_up(browser, base, settled_trip):
    from playwright.sync_api import expect

    trip, (olivia, ana, _ben), early, seats = settled_trip
    context, page = _browser_as(browser, base, ana, viewport=DESKTOP)
    try:
        socket = RoutedSocket(page, trip)
        _open_plan(page, base, trip)
        socket.wait_first_frame()
        silent_pick(trip, olivia, early, seats[0])  # its broadcast is lost
        page.wait_for_timeout(500)
        expect(_seat(page, seats[0].pk)).to_have_attribute("data-holder", "")

        # The page's next heartbeat (every 20 s: sent here on its behalf), answered by the
        # server with the trip's version.
        socket.server.send(json.dumps({"type": "ping", "id": "heartbeat"}))
        expect(_seat(page, seats[0].pk)).to_have_attribute(
            "data-holder", str(olivia.pk), timeout=4_000
        )
        assert socket.snapshots_asked() == 1
    finally:
        context.close()
