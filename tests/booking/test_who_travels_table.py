"""Who travels, as a table (issue 23, point 6): the trip's states × what happens to one
traveller (Ana). For each cell: her membership, share, payment and ticket, what her trip
page, pay page and "My trips" say (one answer: ``payments.selectors.travel_standings``),
and the live events the others' pages receive. A newcomer (Lea) stands in for "join".

States: planning; checkout before Ana paid (Olivia and Ben paid); checkout after Ana paid
(Ben has not); booked (everyone paid); after the deadline (Ana unpaid, dropped, the
others booked). Events: join, leave, removed, account deleted, the deadline passing.
Policy "go ahead" throughout; Ana's fare is Flex (a cancelled ticket refunds something).
"""

import contextlib
import datetime as dt
import json
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from booking import live
from booking.errors import TicketStillValid, TripClosedToJoiners
from booking.models import Ticket
from groups import account_services
from groups import services as group_services
from groups.models import Membership
from payments import deadlines, selectors, services
from payments.errors import TravellersFixed
from payments.models import Checkout, Payment, Refund, Share
from sandboxes.stripe_server import CARD_OK
from tests import factories
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process, tasks_run  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


FLEX = {"fare_class_code": "flex-2", "passenger_type_code": "adult", "age": 35}


@dataclass
class World:
    trip: object
    olivia: object
    ana: object
    ben: object
    token: str  # an invitation link made while planning
    checkout: Checkout | None = None


def _pay(sandbox, world, payer):
    services.payment_start(
        checkout_id=world.checkout.pk,
        payer=payer,
        share_ids=[Share.objects.get(checkout=world.checkout, traveller=payer).pk],
        payment_method=sandbox.card_payment_method(CARD_OK),
    )


def _deadline(world):
    if world.checkout is not None:
        deadlines.checkouts_deadline(now=world.checkout.deadline_at + dt.timedelta(seconds=1))


def build(state: str, sandbox) -> World:
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(
        travellers=3, fares={1: FLEX}
    )
    _invitation, token = group_services.invitation_create(group_id=trip.group_id, by=olivia)
    world = World(trip=trip, olivia=olivia, ana=ana, ben=ben, token=token)
    if state == "planning":
        return world
    world.checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
    payers = {
        "checkout_unpaid": (olivia, ben),
        "checkout_paid": (olivia, ana),
        "booked": (olivia, ana, ben),
        "after_deadline": (olivia, ben),
    }[state]
    for payer in payers:
        _pay(sandbox, world, payer)
    tasks_run()  # the worker: a queued confirmation runs
    if state == "after_deadline":
        _deadline(world)
    world.checkout.refresh_from_db()
    return world


def act(event: str, world: World):
    """Do ``event`` to Ana (or, for "join", to Lea); returns who it was about."""
    if event == "join":
        lea = factories.user("Lea Late")
        with contextlib.suppress(TripClosedToJoiners):
            group_services.invitation_accept(token=world.token, user=lea)
        return lea
    if event == "leave":
        with contextlib.suppress(TravellersFixed, TicketStillValid):
            group_services.membership_leave(group_id=world.trip.group_id, user=world.ana)
    elif event == "removed":
        with contextlib.suppress(TravellersFixed, TicketStillValid):
            group_services.membership_remove(
                group_id=world.trip.group_id, by=world.olivia, user_id=world.ana.pk
            )
    elif event == "account_deleted":
        with contextlib.suppress(TravellersFixed):
            account_services.account_delete(user=world.ana)
    elif event == "deadline":
        _deadline(world)
    return world.ana


# (state, event): membership, share, payment, ticket, standing, events the others hear.
# membership "" = none; share/payment/ticket "" = none; standing is what every page says
# to the person while they are a member ("-" = not a member: no page of the trip).
TABLE = {
    ("planning", "join"): ("active", "", "", "", "planning", {"member_joined"}),
    ("planning", "leave"): ("left", "", "", "", "-", {"member_left"}),
    ("planning", "removed"): ("removed", "", "", "", "-", {"member_removed"}),
    ("planning", "account_deleted"): ("left", "", "", "", "-", {"member_left"}),
    ("planning", "deadline"): ("active", "", "", "", "planning", set()),
    ("checkout_unpaid", "join"): ("", "", "", "", "-", set()),
    # A checkout's travellers are fixed until it ends (docs/payments.md): refused.
    ("checkout_unpaid", "leave"): ("active", "unpaid", "", "", "paying", set()),
    ("checkout_unpaid", "removed"): ("active", "unpaid", "", "", "paying", set()),
    # ... and so is deleting one's account: it waits for the checkout's end (the delete
    # page says so).
    ("checkout_unpaid", "account_deleted"): ("active", "unpaid", "", "", "paying", set()),
    ("checkout_unpaid", "deadline"): (
        "active",
        "released",
        "",
        "",
        "not_travelling",
        {"shares_changed", "booking_confirmed"},
    ),
    ("checkout_paid", "join"): ("", "", "", "", "-", set()),
    ("checkout_paid", "leave"): ("active", "authorised", "authorised", "", "paying", set()),
    ("checkout_paid", "removed"): ("active", "authorised", "authorised", "", "paying", set()),
    ("checkout_paid", "account_deleted"): (
        "active",
        "authorised",
        "authorised",
        "",
        "paying",
        set(),
    ),
    ("checkout_paid", "deadline"): (
        "active",
        "captured",
        "captured",
        "valid",
        "booked",
        {"shares_changed", "booking_confirmed"},  # Ben dropped, the others booked
    ),
    ("booked", "join"): ("", "", "", "", "-", set()),
    # A valid ticket keeps its traveller until it is cancelled: refused.
    ("booked", "leave"): ("active", "captured", "captured", "valid", "booked", set()),
    ("booked", "removed"): ("active", "captured", "captured", "valid", "booked", set()),
    ("booked", "account_deleted"): (
        "left",
        "captured",
        "captured",
        "cancelled",
        "-",
        {"member_left", "ticket_cancelled"},
    ),
    ("booked", "deadline"): ("active", "captured", "captured", "valid", "booked", set()),
    ("after_deadline", "join"): ("", "", "", "", "-", set()),
    ("after_deadline", "leave"): ("left", "released", "", "", "-", {"member_left"}),
    ("after_deadline", "removed"): ("removed", "released", "", "", "-", {"member_removed"}),
    ("after_deadline", "account_deleted"): ("left", "released", "", "", "-", {"member_left"}),
    ("after_deadline", "deadline"): ("active", "released", "", "", "not_travelling", set()),
}


def _pages_say(world: World, person, standing: str):
    """The trip page, the pay page and My trips, as ``person`` reads them."""
    client = Client()
    client.force_login(person)
    my_trips = client.get(reverse("my_trips")).content.decode()
    trip_page = client.get(reverse("trip", args=[world.trip.pk]))
    if standing == "-":
        assert f'data-trip="{world.trip.pk}"' not in my_trips
        assert trip_page.status_code in (404, 302) or "data-checkout-panel" not in (
            trip_page.content.decode()
        )
        return
    html = trip_page.content.decode()
    assert trip_page.status_code == 200
    booked_words = "You are booked"
    if standing == "booked":
        assert booked_words in html and 'data-standing="booked"' in my_trips
    else:
        assert booked_words not in html and 'data-standing="booked"' not in my_trips
    if standing == "not_travelling":
        assert "data-not-travelling" in html
        assert 'data-standing="not_travelling"' in my_trips
    if (
        world.checkout is not None
        and Share.objects.filter(checkout=world.checkout, traveller=person).exists()
    ):
        token = services.pay_link_token(checkout=world.checkout, payer=person)
        pay = Client().get(reverse("pay", args=[token])).content.decode()
        assert (booked_words in pay) == (standing == "booked")
        if standing == "not_travelling":
            assert "data-not-travelling" in pay


@pytest.mark.parametrize(("state", "event"), list(TABLE), ids=[f"{s}-{e}" for s, e in TABLE])
def test_who_travels(
    state,
    event,
    stripe_sandbox,  # noqa: F811
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    membership, share, payment, ticket, standing, heard = TABLE[(state, event)]
    world = build(state, stripe_sandbox)
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(live, "_send", lambda group, message: sent.append((group, message)))

    with django_capture_on_commit_callbacks(execute=True):
        person = act(event, world)

    row = Membership.objects.filter(group_id=world.trip.group_id, user=person).first()
    assert (row.status if row else "") == membership
    mine = Share.objects.filter(traveller=person, checkout__trip=world.trip).first()
    assert (mine.state if mine else "") == share
    paid = Payment.objects.filter(shares__traveller=person, checkout__trip=world.trip).first()
    assert (paid.state if paid else "") == payment
    tickets = list(Ticket.objects.filter(traveller=person, booking__trip=world.trip))
    assert ({t.state for t in tickets} or {""}) == {ticket}
    if ticket == "cancelled":  # refunded to whoever paid, after the commit
        refund = Refund.objects.get(ticket=tickets[0])
        assert refund.state == "succeeded" and refund.amount_cents == tickets[0].refunded_cents
    if standing != "-":
        assert selectors.travel_standing(user=person, trip_id=world.trip.pk) == standing
    _pages_say(world, person, standing)

    trip_group = live.trip_group(world.trip.pk)
    kinds = {json.loads(m["text"])["kind"] for g, m in sent if g == trip_group and "text" in m}
    kinds.discard("member_anonymised")  # the deletion's second event, about the name
    kinds.discard("seats_released")  # with the deadline's drop
    assert kinds == heard
