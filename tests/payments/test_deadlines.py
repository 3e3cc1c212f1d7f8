"""The payment deadline carried out by the worker (payments.deadlines) against the Stripe
sandbox: go ahead without the unpaid, cancel everything, a grace period; idempotent, two
workers at once, reminders once each, and seats that never expire under a checkout."""

import datetime as dt
import json
import re
import threading

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection, connections

from booking import live, plan
from booking.models import AllocationState, Booking, SeatAllocation, Ticket, Trip, TripEvent
from core import jobs
from groups.models import Profile
from notices.sending import messages_send
from payments import deadlines, selectors, services
from payments.models import Checkout, Payment, Share
from sandboxes.stripe_server import CARD_3DS, CARD_OK
from tests import factories
from tests.payments.conftest import tasks_run

SECOND = dt.timedelta(seconds=1)


def share_of(checkout, user) -> Share:
    return Share.objects.get(checkout=checkout, traveller=user)


def pay(sandbox, checkout, payer, users, card=CARD_OK):
    started = services.payment_start(
        checkout_id=checkout.pk,
        payer=payer,
        share_ids=[share_of(checkout, u).pk for u in users],
        payment_method=sandbox.card_payment_method(card),
    )
    tasks_run()  # the worker: a queued confirmation runs
    return started


def statuses(sandbox, checkout) -> dict[str, dict]:
    """The sandbox's PaymentIntents of this checkout, by id."""
    ours = set(
        Payment.objects.filter(checkout=checkout)
        .exclude(stripe_payment_intent_id=None)
        .values_list("stripe_payment_intent_id", flat=True)
    )
    return {pi["id"]: pi for pi in stripe_sandbox_intents(sandbox) if pi["id"] in ours}


def stripe_sandbox_intents(sandbox):
    return sandbox.payment_intents()


def allocation_of(trip, user) -> SeatAllocation:
    return SeatAllocation.objects.filter(leg__trip=trip, user=user).latest("pk")


def events(trip, kind) -> list[TripEvent]:
    return list(TripEvent.objects.filter(trip=trip, kind=kind))


@pytest.fixture
def broadcasts(monkeypatch):
    """What the channel layer was asked to send (run the on-commit callbacks to fill it)."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(live, "_send", lambda group, message: sent.append((group, message)))
    return sent


def test_the_jobs_are_registered():
    names = {job.name for job in jobs.registered()}
    assert {"payment_deadlines", "payment_reminders"} <= names


# --- go_ahead ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_go_ahead_frees_the_unpaid_seat_and_books_the_others(
    stripe_sandbox, broadcasts, django_capture_on_commit_callbacks
):
    trip, (olivia, ana, ben), departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
    pay(stripe_sandbox, checkout, olivia, [olivia])
    pay(stripe_sandbox, checkout, ana, [ana])
    waiting = pay(stripe_sandbox, checkout, ben, [ben], card=CARD_3DS)  # never finished
    assert waiting.status == "requires_action"
    ben_seat = allocation_of(trip, ben)

    # Before the deadline: nothing happens.
    assert deadlines.checkouts_deadline(now=checkout.deadline_at - SECOND) == 0
    assert Checkout.objects.get(pk=checkout.pk).state == "open"

    with django_capture_on_commit_callbacks(execute=True):
        assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1

    checkout.refresh_from_db()
    trip.refresh_from_db()
    assert checkout.state == "confirmed" and trip.status == Trip.Status.BOOKED
    assert share_of(checkout, ben).state == "released" and share_of(checkout, ben).payment is None
    ben_seat.refresh_from_db()
    assert ben_seat.state == AllocationState.RELEASED
    # A departure's watcher hears the seat is free again.
    seat_messages = [m for g, m in broadcasts if g == live.departure_group(departure.pk)]
    assert {"seat_id": ben_seat.seat_id, "status": "free"} in [
        s for m in seat_messages for s in json.loads(m["text"])["seats"]
    ]
    assert share_of(checkout, olivia).state == share_of(checkout, ana).state == "captured"
    tickets = Ticket.objects.filter(booking__trip=trip)
    assert sorted(t.traveller_id for t in tickets) == sorted([olivia.pk, ana.pk])
    seen = statuses(stripe_sandbox, checkout)
    ben_payment = Payment.objects.get(pk=waiting.payment.pk)
    assert ben_payment.state == "cancelled"
    assert seen[ben_payment.stripe_payment_intent_id]["status"] == "canceled"
    assert sorted(pi["status"] for pi in seen.values()) == ["canceled", "succeeded", "succeeded"]
    assert [e.payload["reason"] for e in events(trip, "seats_released")] == ["unpaid_at_deadline"]

    # The job again: nothing more, here or at Stripe.
    version = Trip.objects.get(pk=trip.pk).version
    assert deadlines.checkouts_deadline(now=checkout.deadline_at + 10 * SECOND) == 0
    assert services.checkout_deadline(checkout_id=checkout.pk, now=checkout.deadline_at) == ""
    assert Trip.objects.get(pk=trip.pk).version == version
    assert statuses(stripe_sandbox, checkout) == seen
    assert Booking.objects.filter(trip=trip).count() == 1


@pytest.mark.django_db
def test_go_ahead_with_nobody_paid_cancels(stripe_sandbox):
    trip, (olivia, _ana), _departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
    assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1
    checkout.refresh_from_db()
    trip.refresh_from_db()
    assert checkout.state == "cancelled" and trip.status == Trip.Status.PLANNING
    assert not SeatAllocation.objects.filter(leg__trip=trip, state__in=["held", "sold"]).exists()


# --- cancel_all ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_all_releases_every_authorisation_and_seat(
    stripe_sandbox, broadcasts, django_capture_on_commit_callbacks
):
    trip, (olivia, ana, _ben), departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="cancel_all")
    pay(stripe_sandbox, checkout, olivia, [olivia])
    pay(stripe_sandbox, checkout, ana, [ana])
    held = list(SeatAllocation.objects.filter(leg__trip=trip, state="held"))
    assert len(held) == 3

    with django_capture_on_commit_callbacks(execute=True):
        assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1

    checkout.refresh_from_db()
    trip.refresh_from_db()
    assert checkout.state == "cancelled"
    assert trip.status == Trip.Status.PLANNING  # the group may adjust and start again
    seen = statuses(stripe_sandbox, checkout)
    assert len(seen) == 2
    for pi in seen.values():
        assert pi["status"] == "canceled" and pi["amount_received"] == 0  # nobody charged
    assert set(Payment.objects.filter(checkout=checkout).values_list("state", flat=True)) == {
        "cancelled"
    }
    assert set(Share.objects.filter(checkout=checkout).values_list("state", flat=True)) == {
        "released"
    }
    assert set(
        SeatAllocation.objects.filter(pk__in=[a.pk for a in held]).values_list("state", flat=True)
    ) == {"released"}
    freed = {
        s["seat_id"]
        for g, m in broadcasts
        if g == live.departure_group(departure.pk)
        for s in json.loads(m["text"])["seats"]
        if s["status"] == "free"
    }
    assert freed >= {a.seat_id for a in held}
    assert len(events(trip, "checkout_cancelled")) == 1
    assert Ticket.objects.filter(booking__trip=trip).count() == 0

    # Idempotent: again, nothing more.
    assert deadlines.checkouts_deadline(now=checkout.deadline_at + 60 * SECOND) == 0
    assert len(events(trip, "checkout_cancelled")) == 1
    assert statuses(stripe_sandbox, checkout) == seen
    # The trip plans again: a new checkout can start once seats are taken again.
    plan.sit_together(trip_id=trip.pk, user=olivia, leg="outbound")
    again = services.checkout_start(trip_id=trip.pk, by=olivia)
    assert again.pk != checkout.pk


@pytest.mark.django_db
def test_an_authorisation_arriving_after_the_cancel_is_released(stripe_sandbox):
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="cancel_all")
    # Ana's page created her intent before the deadline; she confirms it after.
    started = services.payment_start(
        checkout_id=checkout.pk, payer=ana, share_ids=[share_of(checkout, ana).pk]
    )
    tasks_run()  # the worker: a queued confirmation runs
    assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1
    payment = Payment.objects.get(pk=started.payment.pk)
    assert payment.state == "cancelled"
    intent = statuses(stripe_sandbox, checkout)[payment.stripe_payment_intent_id]
    assert intent["status"] == "canceled"


# --- grace ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_grace_lets_a_friend_cover_the_unpaid_share(stripe_sandbox):
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="grace")
    grace_until = checkout.grace_until
    assert grace_until > checkout.deadline_at
    pay(stripe_sandbox, checkout, olivia, [olivia])
    pay(stripe_sandbox, checkout, ana, [ana])

    assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1
    checkout.refresh_from_db()
    assert checkout.state == "grace" and checkout.grace_until == grace_until  # set once
    assert [e.payload["travellers"] for e in events(trip, "checkout_grace")] == [[ben.pk]]
    assert SeatAllocation.objects.filter(leg__trip=trip, state="held").count() == 3
    # Again during the grace period: nothing.
    assert deadlines.checkouts_deadline(now=checkout.deadline_at + 60 * SECOND) == 0
    assert len(events(trip, "checkout_grace")) == 1

    pay(stripe_sandbox, checkout, ana, [ben])  # Ana covers Ben

    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    assert Ticket.objects.filter(booking__trip=trip).count() == 3
    assert deadlines.checkouts_deadline(now=grace_until + SECOND) == 0
    assert Checkout.objects.get(pk=checkout.pk).state == "confirmed"


@pytest.mark.django_db
def test_grace_passing_unpaid_cancels_everything(stripe_sandbox):
    trip, (olivia, _ana), _departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="grace")
    pay(stripe_sandbox, checkout, olivia, [olivia])
    assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1
    assert deadlines.checkouts_deadline(now=checkout.grace_until - SECOND) == 0
    assert deadlines.checkouts_deadline(now=checkout.grace_until + SECOND) == 1
    checkout.refresh_from_db()
    assert checkout.state == "cancelled"
    assert {pi["status"] for pi in statuses(stripe_sandbox, checkout).values()} == {"canceled"}
    assert not SeatAllocation.objects.filter(leg__trip=trip, state__in=["held", "sold"]).exists()


# --- Holds under a checkout ----------------------------------------------------------------


@pytest.mark.django_db
def test_hold_expiry_leaves_a_checkout_s_seats_to_its_policy():
    trip, (olivia, *_), _departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, deadline_hours=1)
    late = checkout.deadline_at + dt.timedelta(hours=1)
    assert plan.holds_expire(now=late) == 0
    assert SeatAllocation.objects.filter(leg__trip=trip, state="held").count() == 2
    # The worker keeps them ahead of time, so no read takes them for free meanwhile.
    margin = settings.SIDEBYSIDE["PAYMENT_HOLD_MARGIN_SECONDS"]
    assert plan.holds_keep_in_checkout(now=late, margin_seconds=margin) == 2
    held = SeatAllocation.objects.filter(leg__trip=trip, state="held")
    assert {a.expires_at for a in held} == {late + dt.timedelta(seconds=margin)}
    # A planning trip's holds still expire as before.
    _other, _people, _ = factories.checkout_ready_trip(travellers=1)
    assert plan.holds_expire(now=late + dt.timedelta(days=1)) == 1
    assert SeatAllocation.objects.filter(leg__trip=trip, state="held").count() == 2


# --- Reminders -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_reminders_go_once_each_to_the_unpaid(stripe_sandbox, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "SITE_URL": "https://sidebyside.example"}
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, deadline_hours=24)
    pay(stripe_sandbox, checkout, olivia, [olivia])
    Profile.objects.filter(user=ben).update(preferred_language="en")
    messages_send()  # the checkout's own e-mails
    mail.outbox.clear()

    assert deadlines.payment_reminders(now=checkout.created_at + dt.timedelta(hours=11)) == 0
    halfway = checkout.created_at + dt.timedelta(hours=12, seconds=1)
    assert deadlines.payment_reminders(now=halfway) == 2
    assert deadlines.payment_reminders(now=halfway) == 0  # once
    assert messages_send(now=halfway) == 2  # the outbox sends them
    assert sorted(m.to[0] for m in mail.outbox) == sorted([ana.email, ben.email])
    message = next(m for m in mail.outbox if m.to == [ana.email])
    assert trip.title in message.subject
    # Her own pay link (the token is signed with a timestamp: read it back).
    token = re.search(r"https://sidebyside\.example/pay/([^/\s]+)/", message.body).group(1)
    link = selectors.pay_link_read(token=token)
    assert (link.checkout, link.payer) == (checkout, ana)
    euros = share_of(checkout, ana).amount_cents // 100
    assert f"{euros},00\N{NO-BREAK SPACE}€" in message.body  # her share, in French
    assert "Payez votre part" in message.subject
    in_english = next(m for m in mail.outbox if m.to == [ben.email])
    assert "Pay your share" in in_english.subject and "Your share:" in in_english.body

    two_hours_left = checkout.deadline_at - dt.timedelta(hours=1)
    assert deadlines.payment_reminders(now=two_hours_left) == 2
    assert deadlines.payment_reminders(now=two_hours_left) == 0
    assert messages_send(now=two_hours_left) == 2
    assert len(mail.outbox) == 4
    assert set(Share.objects.filter(checkout=checkout).values_list("reminders_sent", flat=True))
    assert share_of(checkout, olivia).reminders_sent == 0  # paid: never reminded
    assert share_of(checkout, ben).reminders_sent == 2


# --- Two workers at once (PostgreSQL) ------------------------------------------------------

on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(not on_postgres, reason="needs PostgreSQL: real row locks, many connections")
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_handle_each_checkout_once(stripe_sandbox):
    checkouts = []
    for policy in ("cancel_all", "go_ahead", "cancel_all", "go_ahead"):
        trip, (olivia, _ana), _departure = factories.checkout_ready_trip(travellers=2)
        checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy=policy)
        pay(stripe_sandbox, checkout, olivia, [olivia])
        checkouts.append(checkout)
    now = max(c.deadline_at for c in checkouts) + SECOND

    barrier = threading.Barrier(2)
    outcomes = []

    def worker():
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            outcomes.append(("ok", deadlines.checkouts_deadline(now=now)))
        except Exception as error:  # pragma: no cover - reported below
            outcomes.append(("error", error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [kind for kind, _value in outcomes] == ["ok", "ok"], outcomes
    # (Each pass also counts the repairs it made of what the other was finishing: the
    # exact-once check is per checkout, below.)
    assert sum(value for _kind, value in outcomes) >= len(checkouts)
    for checkout in checkouts:
        checkout.refresh_from_db()
        trip = checkout.trip
        if checkout.policy == "cancel_all":
            assert checkout.state == "cancelled"
            assert len(events(trip, "checkout_cancelled")) == 1
            assert len(events(trip, "seats_released")) == 1
            assert set(
                Payment.objects.filter(checkout=checkout).values_list("state", flat=True)
            ) == {"cancelled"}
            assert {pi["status"] for pi in statuses(stripe_sandbox, checkout).values()} == {
                "canceled"
            }
        else:
            assert checkout.state == "confirmed"
            assert len(events(trip, "booking_confirmed")) == 1
            assert len(events(trip, "seats_released")) == 1
            assert Ticket.objects.filter(booking__trip=trip).count() == 1
