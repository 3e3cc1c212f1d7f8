"""Disruptions (docs/disruptions.md): the operator cancels, delays or re-vehicles a
departure; the worker applies it to each trip by its state, one transaction per trip;
money moves once (the Stripe sandbox counts it)."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from booking import disruptions, plan
from booking.errors import (
    ChoiceAlreadyMade,
    ChoiceDeadlinePassed,
    ChoiceNotFound,
    DelayInvalid,
    DepartureAlreadyCancelled,
)
from booking.models import (
    AllocationState,
    Departure,
    DisruptedTrip,
    Disruption,
    DisruptionChange,
    DisruptionChoice,
    PollOption,
    PollVote,
    SeatAllocation,
    Ticket,
    Trip,
    TripEvent,
    TripLeg,
)
from notices.models import Message
from payments import credits, services
from payments import disruptions as money
from payments.errors import CompensationAlreadyMade, CompensationNotOpen
from payments.models import (
    Checkout,
    Compensation,
    CompensationPreference,
    Payment,
    Refund,
    Share,
)
from tests import factories
from tests.payments import conftest as payments_conftest

# The Stripe sandbox of tests/payments/, for these tests too.
stripe_sandbox_process = payments_conftest.stripe_sandbox_process
stripe_sandbox = payments_conftest.stripe_sandbox

pytestmark = pytest.mark.django_db

STANDARD = {"fare_class_code": "standard-2", "passenger_type_code": "adult", "age": 35}


def stripe_refunds(sandbox, intent_id: str) -> list[int]:
    status, listed = sandbox.request("GET", "/v1/refunds", {"payment_intent": intent_id})
    assert status == 200, listed
    return [r["amount"] for r in listed["data"] if r["payment_intent"] == intent_id]


def intent_status(sandbox, intent_id: str) -> str:
    status, intent = sandbox.request("GET", f"/v1/payment_intents/{intent_id}")
    assert status == 200, intent
    return intent["status"]


def events(trip, kind):
    return list(TripEvent.objects.filter(trip=trip, kind=kind).order_by("version"))


# --- The operator's actions ------------------------------------------------------------------


def test_cancelling_twice_records_one_disruption_and_queues_each_trip_once():
    trip, _people, departures = factories.planned_trip(travellers=2)
    departure = departures[0]

    first, changed = disruptions.departure_cancel(departure_id=departure.pk, reason="Strike")
    again, changed_again = disruptions.departure_cancel(departure_id=departure.pk)

    assert changed and not changed_again and first.pk == again.pk
    departure.refresh_from_db()
    assert departure.status == Departure.Status.CANCELLED
    assert DisruptionChange.objects.filter(disruption=first).count() == 1
    assert list(DisruptedTrip.objects.values_list("trip_id", "what")) == [(trip.pk, "cancelled")]


def test_a_delay_on_a_cancelled_train_is_refused_and_changes_nothing():
    departure = factories.departure()
    disruptions.departure_cancel(departure_id=departure.pk)

    with pytest.raises(DepartureAlreadyCancelled):
        disruptions.departure_delay(
            departure_id=departure.pk,
            expected_arrival_at=departure.arrives_at + dt.timedelta(minutes=30),
        )
    with pytest.raises(DepartureAlreadyCancelled):
        disruptions.departure_vehicle_swap(
            departure_id=departure.pk, vehicle_id=factories.vehicle().pk
        )
    assert not Disruption.objects.filter(departure=departure, kind="delay").exists()


def test_a_delay_before_the_scheduled_arrival_or_in_the_future_is_refused():
    departure = factories.departure()
    with pytest.raises(DelayInvalid):
        disruptions.departure_delay(
            departure_id=departure.pk, expected_arrival_at=departure.arrives_at
        )
    with pytest.raises(DelayInvalid):
        disruptions.departure_delay(
            departure_id=departure.pk,
            actual_arrival_at=departure.arrives_at + dt.timedelta(minutes=80),
        )
    with pytest.raises(DelayInvalid):
        disruptions.departure_delay(departure_id=departure.pk)
    assert not Disruption.objects.exists()


def test_the_same_expected_delay_twice_changes_nothing():
    departure = factories.departure()
    later = departure.arrives_at + dt.timedelta(minutes=40)
    _d, changed = disruptions.departure_delay(departure_id=departure.pk, expected_arrival_at=later)
    _d, again = disruptions.departure_delay(departure_id=departure.pk, expected_arrival_at=later)
    assert changed and not again
    assert DisruptionChange.objects.count() == 1


# --- Planning ---------------------------------------------------------------------------------


def test_planning_trip_loses_its_holds_its_option_is_marked_and_the_organiser_asked():
    trip, people, departures = factories.planned_trip(travellers=3)
    departure = departures[0]
    organiser = people[0]
    plan.poll_vote(trip_id=trip.pk, user=people[1], leg="outbound", departure_id=departure.pk)
    plan.poll_settle(trip_id=trip.pk, by=organiser, leg="outbound", departure_id=departure.pk)
    plan.sit_together(trip_id=trip.pk, user=organiser, leg="outbound")
    votes_before = PollVote.objects.filter(leg__trip=trip).count()

    disruptions.departure_cancel(departure_id=departure.pk, reason="Flooding")
    assert disruptions.disruptions_apply() == 1
    assert disruptions.disruptions_apply() == 0  # done: a second pass changes nothing

    assert not SeatAllocation.objects.filter(
        leg__trip=trip, state=AllocationState.HELD, departure=departure
    ).exists()
    option = PollOption.objects.get(leg__trip=trip, departure=departure)
    assert option.cancelled_at is not None
    assert PollVote.objects.filter(leg__trip=trip).count() == votes_before  # history kept
    assert TripLeg.objects.get(trip=trip, direction="outbound").departure_id is None
    (event,) = events(trip, "departure_disrupted")
    assert event.payload["state"] == "planning"
    assert event.payload["legs_unsettled"] == ["outbound"]
    assert len(event.payload["released"]) == 3
    assert list(
        Message.objects.filter(kind="booking.choose_again").values_list("recipient_id", flat=True)
    ) == [organiser.pk]


def test_a_cancelled_option_can_no_longer_be_settled():
    trip, people, departures = factories.planned_trip(travellers=2)
    disruptions.departure_cancel(departure_id=departures[0].pk)
    disruptions.disruptions_apply()
    with pytest.raises(Exception) as refused:
        plan.poll_settle(
            trip_id=trip.pk, by=people[0], leg="outbound", departure_id=departures[0].pk
        )
    assert getattr(refused.value, "code", "") == "departure_not_bookable"


# --- Checkout ---------------------------------------------------------------------------------


def test_checkout_on_the_train_is_cancelled_and_every_authorisation_released(
    stripe_sandbox, django_capture_on_commit_callbacks
):
    trip, people, departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=people[0])
    share = Share.objects.get(checkout=checkout, traveller=people[0])
    services.payment_start(
        checkout_id=checkout.pk,
        payer=people[0],
        share_ids=[share.pk],
        payment_method=stripe_sandbox.card_payment_method(),
    )
    payment = Payment.objects.get(checkout=checkout)
    assert payment.state == Payment.State.AUTHORISED

    disruptions.departure_cancel(departure_id=departure.pk)
    with django_capture_on_commit_callbacks(execute=True):
        disruptions.disruptions_apply()

    checkout.refresh_from_db()
    payment.refresh_from_db()
    trip.refresh_from_db()
    assert checkout.state == Checkout.State.CANCELLED
    assert payment.state == Payment.State.CANCELLED
    assert intent_status(stripe_sandbox, payment.stripe_payment_intent_id) == "canceled"
    assert trip.status == Trip.Status.PLANNING
    assert not Ticket.objects.filter(booking__trip=trip).exists()
    assert events(trip, "checkout_cancelled") and events(trip, "departure_disrupted")


# --- Booked: the choice -----------------------------------------------------------------------


@pytest.fixture
def booked(stripe_sandbox):
    trip, people, departure, checkout = factories.booked_by_organiser(
        stripe_sandbox, travellers=3, fares={1: STANDARD}
    )
    return trip, people, departure, checkout


def test_booked_travellers_each_get_a_choice_and_an_email(booked):
    trip, people, departure, _checkout = booked
    disruptions.departure_cancel(departure_id=departure.pk)
    disruptions.disruptions_apply()

    choices = DisruptionChoice.objects.filter(ticket__booking__trip=trip)
    assert sorted(choices.values_list("traveller_id", flat=True)) == sorted(p.pk for p in people)
    assert set(choices.values_list("choice", flat=True)) == {"pending"}
    assert Message.objects.filter(kind="booking.train_cancelled").count() == 3
    (event,) = events(trip, "departure_disrupted")
    assert event.payload["state"] == "booked"


def test_full_refund_even_of_a_standard_fare_once_at_stripe(booked, stripe_sandbox):
    trip, people, departure, checkout = booked
    disruptions.departure_cancel(departure_id=departure.pk)
    disruptions.disruptions_apply()
    standard = people[1]
    ticket = Ticket.objects.get(booking__trip=trip, traveller=standard)
    assert ticket.fare_class.code == "standard-2"  # refunds nothing by its own rules

    chosen = money.disruption_refund_choose(ticket_id=ticket.pk, by=standard)
    with pytest.raises(ChoiceAlreadyMade):
        money.disruption_refund_choose(ticket_id=ticket.pk, by=standard)

    assert chosen.refund.state == Refund.State.SUCCEEDED
    assert chosen.refund.amount_cents == ticket.price_cents
    ticket.refresh_from_db()
    assert ticket.state == Ticket.State.CANCELLED
    assert ticket.refunded_cents == ticket.price_cents
    payment = Payment.objects.get(checkout=checkout)
    assert stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id) == [ticket.price_cents]
    assert money.disruption_refunds_send() == 0  # nothing left to ask
    assert stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id) == [ticket.price_cents]


def test_someone_elses_ticket_or_one_without_choice_is_not_found(booked):
    trip, people, departure, _checkout = booked
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[0])
    with pytest.raises(ChoiceNotFound):  # no disruption yet
        money.disruption_refund_choose(ticket_id=ticket.pk, by=people[0])
    disruptions.departure_cancel(departure_id=departure.pk)
    disruptions.disruptions_apply()
    with pytest.raises(ChoiceNotFound):
        money.disruption_refund_choose(ticket_id=ticket.pk, by=people[1])
    assert not Refund.objects.filter(ticket=ticket).exists()


def test_a_choice_after_its_deadline_is_refused_and_changes_nothing(booked):
    trip, people, departure, _checkout = booked
    disruptions.departure_cancel(departure_id=departure.pk)
    disruptions.disruptions_apply()
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[0])
    DisruptionChoice.objects.filter(ticket=ticket).update(
        choose_by=timezone.now() - dt.timedelta(minutes=1)
    )
    with pytest.raises(ChoiceDeadlinePassed):
        money.disruption_refund_choose(ticket_id=ticket.pk, by=people[0])
    ticket.refresh_from_db()
    assert ticket.state == Ticket.State.VALID
    assert not Refund.objects.filter(ticket=ticket).exists()


def test_the_worker_resumes_with_the_trips_left_after_a_stop(stripe_sandbox):
    trips = [factories.booked_by_organiser(stripe_sandbox, travellers=2) for _ in range(3)]
    departure_ids = {t[2].pk for t in trips}
    for departure_id in departure_ids:
        disruptions.departure_cancel(departure_id=departure_id)

    assert disruptions.disruptions_apply(limit=1) == 1  # then the worker is killed
    assert DisruptedTrip.objects.filter(state="pending").count() == 2
    assert disruptions.disruptions_apply() == 2
    assert DisruptionChoice.objects.count() == 6  # each ticket once


# --- Delays and compensation --------------------------------------------------------------------


def _arrived_late(departure, minutes: int):
    """Move the booked train into the past, then record its actual arrival."""
    departs = timezone.now() - dt.timedelta(hours=5)
    Departure.objects.filter(pk=departure.pk).update(
        departs_at=departs, arrives_at=departs + dt.timedelta(hours=2)
    )
    departure.refresh_from_db()
    return disruptions.departure_delay(
        departure_id=departure.pk,
        actual_arrival_at=departure.arrives_at + dt.timedelta(minutes=minutes),
        reason="Signal failure",
    )


@pytest.mark.parametrize(
    ("minutes", "percent"), [(59, 0), (60, 25), (75, 25), (119, 25), (120, 50), (200, 50)]
)
def test_compensation_steps(minutes, percent):
    assert money.compensation_percent(minutes) == percent


def test_a_75_minute_delay_pays_25_percent_to_each_ticket_once(
    booked, stripe_sandbox, django_capture_on_commit_callbacks
):
    trip, _people, departure, checkout = booked
    _arrived_late(departure, 75)
    with django_capture_on_commit_callbacks(execute=True):
        disruptions.disruptions_apply()
    # The same news again, and the job run twice: nothing more.
    _arrived_late(departure, 75)
    disruptions.disruptions_apply()
    money.compensations_make(trip_id=trip.pk, disruption_id=Disruption.objects.get().pk)
    money.disruption_refunds_send()

    tickets = list(Ticket.objects.filter(booking__trip=trip).order_by("pk"))
    compensations = {c.ticket_id: c for c in Compensation.objects.all()}
    assert len(compensations) == 3
    for ticket in tickets:
        assert compensations[ticket.pk].amount_cents == ticket.price_cents * 25 // 100
        assert compensations[ticket.pk].percent == 25
        assert ticket.refunded_cents == ticket.price_cents * 25 // 100
    payment = Payment.objects.get(checkout=checkout)
    assert sorted(stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id)) == sorted(
        t.price_cents * 25 // 100 for t in tickets
    )
    assert Message.objects.filter(kind="payments.delay_compensation").count() == 3


def test_below_the_threshold_nothing_is_paid(booked, settings):
    _trip, _people, departure, _checkout = booked
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "DELAY_COMPENSATION_MIN_CENTS": 100_000}
    _arrived_late(departure, 130)
    disruptions.disruptions_apply()
    assert set(Compensation.objects.values_list("state", flat=True)) == {"below"}
    assert not Refund.objects.filter(reason="delay").exists()


def test_compensation_never_more_than_what_is_left_of_the_ticket(booked):
    trip, people, departure, _checkout = booked
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[0])
    Ticket.objects.filter(pk=ticket.pk).update(refunded_cents=ticket.price_cents - 500)
    _arrived_late(departure, 130)
    disruptions.disruptions_apply()
    assert Compensation.objects.get(ticket=ticket).amount_cents == 500


def _late_with_preference(departure, traveller, form: str):
    """A delay announced (expected arrival) while the train runs; ``traveller`` says how
    they want the compensation; then the actual arrival, 75 minutes late."""
    late, _changed = disruptions.departure_delay(
        departure_id=departure.pk,
        expected_arrival_at=departure.arrives_at + dt.timedelta(minutes=80),
    )
    money.compensation_preference_set(disruption_id=late.pk, by=traveller, form=form)
    return _arrived_late(departure, 75)


@pytest.fixture
def credited(booked, stripe_sandbox, django_capture_on_commit_callbacks):
    """The booked trip's second traveller took the 75-minute delay's compensation as
    credit; the others on their card. Everything run twice."""
    trip, people, departure, _checkout = booked
    _late_with_preference(departure, people[1], "credit")
    with django_capture_on_commit_callbacks(execute=True):
        disruptions.disruptions_apply()
    disruptions.disruptions_apply()
    money.compensations_make(trip_id=trip.pk, disruption_id=Disruption.objects.get().pk)
    money.disruption_refunds_send()
    return booked


def test_compensation_as_credit_when_preferred_never_also_on_the_card(credited, stripe_sandbox):
    trip, people, _departure, checkout = credited
    tickets = {t.traveller_id: t for t in Ticket.objects.filter(booking__trip=trip)}
    compensations = {
        c.ticket.traveller_id: c for c in Compensation.objects.select_related("ticket")
    }
    assert len(compensations) == 3
    mine = compensations[people[1].pk]
    assert mine.state == "credited" and mine.refund is None
    assert mine.amount_cents == tickets[people[1].pk].price_cents * 25 // 100
    assert tickets[people[1].pk].refunded_cents == 0  # nothing to the card
    assert not Refund.objects.filter(ticket=tickets[people[1].pk]).exists()
    others = [p for p in people if p != people[1]]
    assert {compensations[p.pk].state for p in others} == {"paid"}
    payment = Payment.objects.get(checkout=checkout)
    assert sorted(stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id)) == sorted(
        tickets[p.pk].price_cents * 25 // 100 for p in others
    )
    assert Message.objects.filter(kind="payments.delay_compensation").count() == 3
    assert money.CompensationCredits().available(user_ids=[people[1].pk], currency="EUR") == {
        people[1].pk: mine.amount_cents
    }
    # Asked again, either way: refused, nothing changes.
    for form in ("card", "credit"):
        with pytest.raises(CompensationAlreadyMade):
            money.compensation_preference_set(
                disruption_id=mine.disruption_id, by=people[1], form=form
            )
    assert CompensationPreference.objects.get(traveller=people[1]).form == "credit"
    assert Compensation.objects.count() == 3


def test_the_credit_pays_part_of_a_next_trip_once_and_comes_back_if_that_checkout_ends(
    credited,
):
    _trip, people, _departure, _checkout = credited
    credit = Compensation.objects.get(ticket__traveller=people[1])
    source = money.CompensationCredits()
    next_trip, _others, _train = factories.checkout_ready_trip(travellers=2, organiser=people[1])
    checkout = services.checkout_start(trip_id=next_trip.pk, by=people[1])

    share = Share.objects.get(checkout=checkout, traveller=people[1])
    assert share.credit_cents == credit.amount_cents
    assert source.available(user_ids=[people[1].pk], currency="EUR") == {}  # spent once
    # The checkout cancelled: the credit is back, released once however often asked.
    with transaction.atomic():
        assert credits.shares_credit_release([share.pk]) == credit.amount_cents
        assert credits.shares_credit_release([share.pk]) == 0
    assert source.available(user_ids=[people[1].pk], currency="EUR") == {
        people[1].pk: credit.amount_cents
    }


def test_a_compensation_preference_without_a_ticket_on_a_late_train_is_refused(booked):
    _trip, people, departure, _checkout = booked
    stranger = factories.user("Stranger")
    late, _changed = disruptions.departure_delay(
        departure_id=departure.pk,
        expected_arrival_at=departure.arrives_at + dt.timedelta(minutes=80),
    )
    for by, form in ((stranger, "credit"), (people[0], "cash")):
        with pytest.raises(CompensationNotOpen):
            money.compensation_preference_set(disruption_id=late.pk, by=by, form=form)
    other = factories.departure(origin=departure.origin, destination=departure.destination)
    cancelled, _changed = disruptions.departure_cancel(departure_id=other.pk)
    with pytest.raises(CompensationNotOpen):
        money.compensation_preference_set(disruption_id=cancelled.pk, by=people[0], form="credit")
    assert not CompensationPreference.objects.exists()


# --- Vehicle swap ----------------------------------------------------------------------------


def test_a_vehicle_swap_seats_the_booked_group_together_on_the_new_map(booked):
    trip, _people, departure, _checkout = booked
    new_vehicle = factories.vehicle()

    _d, changed = disruptions.departure_vehicle_swap(
        departure_id=departure.pk, vehicle_id=new_vehicle.pk
    )
    _d, again = disruptions.departure_vehicle_swap(
        departure_id=departure.pk, vehicle_id=new_vehicle.pk
    )
    disruptions.disruptions_apply()

    assert changed and not again
    seats = SeatAllocation.objects.filter(
        leg__trip=trip, state=AllocationState.SOLD
    ).select_related("seat__coach")
    assert {a.seat.coach.vehicle_id for a in seats} == {new_vehicle.pk}
    assert len({a.seat.coach_id for a in seats}) == 1  # together
    (event,) = events(trip, "departure_disrupted")
    assert len(event.payload["moved"]) == 3 and event.payload["unseated"] == []


def test_reconcile_finishes_a_refund_a_crash_left_pending_and_never_twice(booked, stripe_sandbox):
    from payments.reconcile import reconcile

    trip, people, departure, checkout = booked
    disruptions.departure_cancel(departure_id=departure.pk)
    disruptions.disruptions_apply()
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[0])
    # The process dies after the commit, before Stripe is asked.
    chosen = money.disruption_refund_choose(ticket_id=ticket.pk, by=people[0], send=False)
    assert chosen.refund.state == Refund.State.PENDING

    changes = [str(c) for c in reconcile(trip_id=trip.pk)]
    again = reconcile(trip_id=trip.pk)

    assert changes == [
        f"checkout {checkout.pk}: refund {chosen.refund.pk} "
        f"({chosen.refund.idempotency_key}) pending → succeeded"
    ]
    assert again == []
    payment = Payment.objects.get(checkout=checkout)
    assert stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id) == [ticket.price_cents]
    # Asked again with its key after all (a second worker): Stripe replays, once.
    Refund.objects.filter(pk=chosen.refund.pk).update(state=Refund.State.PENDING)
    assert money.disruption_refunds_send() == 1
    assert stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id) == [ticket.price_cents]


# --- Re-routing together ------------------------------------------------------------------------


def _other_train(departure):
    return (
        Departure.objects.filter(origin=departure.origin, destination=departure.destination)
        .exclude(pk=departure.pk)
        .get()
    )


@pytest.fixture
def cancelled(booked):
    trip, people, departure, _checkout = booked
    disruption, _changed = disruptions.departure_cancel(departure_id=departure.pk)
    disruptions.disruptions_apply()
    return trip, people, departure, disruption


def test_two_accept_the_new_train_and_sit_together_the_third_is_refunded(cancelled, stripe_sandbox):
    from booking.disruption_selectors import reroute_alternatives

    trip, (olivia, ana, ben), departure, disruption = cancelled
    other = _other_train(departure)
    (best,) = reroute_alternatives(trip=trip, disruption_id=disruption.pk)
    assert best.departure == other and best.together

    disruptions.reroute_propose(
        trip_id=trip.pk, disruption_id=disruption.pk, departure_id=other.pk, by=olivia
    )
    for person in (olivia, ana):
        ticket = Ticket.objects.get(booking__trip=trip, traveller=person)
        disruptions.reroute_accept(ticket_id=ticket.pk, by=person)
    ben_ticket = Ticket.objects.get(booking__trip=trip, traveller=ben)
    money.disruption_refund_choose(ticket_id=ben_ticket.pk, by=ben)
    issued = disruptions.reroute_seat(trip_id=trip.pk, by=ana)

    assert sorted(t.traveller_id for t in issued) == sorted([olivia.pk, ana.pk])
    new_seats = SeatAllocation.objects.filter(ticket__in=issued).select_related("seat")
    assert {a.departure_id for a in new_seats} == {other.pk}
    assert len({a.seat.coach_id for a in new_seats}) == 1
    old = Ticket.objects.filter(booking__trip=trip, allocation__departure=departure)
    assert set(old.values_list("state", flat=True)) == {"cancelled"}
    assert old.get(traveller=olivia).refunded_cents == 0  # voided, not refunded
    assert not SeatAllocation.objects.filter(departure=departure, state="sold").exists()
    assert TripLeg.objects.get(trip=trip).departure_id == other.pk
    assert Refund.objects.filter(reason="train_cancelled").count() == 1
    assert Message.objects.filter(kind="booking.rerouted").count() == 2
    with pytest.raises(Exception) as again:
        disruptions.reroute_seat(trip_id=trip.pk, by=ana)
    assert again.value.code == "everyone_rerouted"


def test_two_travellers_proposing_one_wins_the_other_is_told(cancelled, settings):
    from booking.errors import RerouteAlreadyProposed, RerouteOrganiserFirst

    trip, (olivia, ana, _ben), departure, disruption = cancelled
    other = _other_train(departure)
    with pytest.raises(RerouteOrganiserFirst):
        disruptions.reroute_propose(
            trip_id=trip.pk, disruption_id=disruption.pk, departure_id=other.pk, by=ana
        )
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "REROUTE_ORGANISER_MINUTES": 0}
    disruptions.reroute_propose(
        trip_id=trip.pk, disruption_id=disruption.pk, departure_id=other.pk, by=ana
    )
    with pytest.raises(RerouteAlreadyProposed):
        disruptions.reroute_propose(
            trip_id=trip.pk, disruption_id=disruption.pk, departure_id=other.pk, by=olivia
        )


def test_rerouting_onto_a_full_cancelled_departed_or_other_train_is_refused(cancelled):
    from booking.errors import RerouteWrongRoute, TrainFull
    from booking.models import Reroute

    trip, (olivia, *_rest), departure, disruption = cancelled
    other = _other_train(departure)

    def propose(train):
        disruptions.reroute_propose(
            trip_id=trip.pk, disruption_id=disruption.pk, departure_id=train.pk, by=olivia
        )

    with pytest.raises(RerouteWrongRoute):
        propose(factories.departure())
    second_class = [s for c in other.vehicle.coaches.all() for s in c.seats.all()]
    sold = factories.sell(other, [s for s in second_class if s.comfort_class == "second"][:-2])
    with pytest.raises(TrainFull):
        propose(other)
    SeatAllocation.objects.filter(pk__in=[a.pk for a in sold]).update(state="released")
    Departure.objects.filter(pk=other.pk).update(
        departs_at=timezone.now() - dt.timedelta(minutes=5)
    )
    with pytest.raises(Exception) as departed:
        propose(other)
    assert departed.value.code == "departure_not_bookable"
    Departure.objects.filter(pk=other.pk).update(
        departs_at=timezone.now() + dt.timedelta(hours=1), status="cancelled"
    )
    with pytest.raises(Exception) as refused:
        propose(other)
    assert refused.value.code == "departure_not_bookable"
    assert not Reroute.objects.exists()


def test_accepting_before_any_proposal_is_refused(cancelled):
    from booking.errors import RerouteNotProposed

    trip, (olivia, *_rest), _departure, _disruption = cancelled
    ticket = Ticket.objects.get(booking__trip=trip, traveller=olivia)
    with pytest.raises(RerouteNotProposed):
        disruptions.reroute_accept(ticket_id=ticket.pk, by=olivia)
    assert DisruptionChoice.objects.get(ticket=ticket).choice == "pending"


def test_a_checkout_confirming_waits_for_the_next_pass_then_is_handled_as_booked(stripe_sandbox):
    trip, people, departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=people[0])
    Checkout.objects.filter(pk=checkout.pk).update(state=Checkout.State.CONFIRMING)

    disruptions.departure_cancel(departure_id=departure.pk)
    assert disruptions.disruptions_apply() == 0  # captures under way: not now
    assert DisruptedTrip.objects.get(trip=trip).state == "pending"
    checkout.refresh_from_db()
    assert checkout.state == Checkout.State.CONFIRMING  # nothing rolled half-way

    Checkout.objects.filter(pk=checkout.pk).update(state=Checkout.State.OPEN)
    assert disruptions.disruptions_apply() == 1
    checkout.refresh_from_db()
    assert checkout.state == Checkout.State.CANCELLED


def test_a_booked_trip_on_another_train_only_has_its_old_option_marked(booked):
    from booking.disruption_selectors import trip_banners

    trip, people, departure, _checkout = booked
    other = (
        Departure.objects.filter(origin=departure.origin, destination=departure.destination)
        .exclude(pk=departure.pk)
        .get()
    )
    disruptions.departure_cancel(departure_id=other.pk)
    disruptions.disruptions_apply()

    assert PollOption.objects.get(leg__trip=trip, departure=other).cancelled_at is not None
    assert not DisruptionChoice.objects.exists()
    assert not events(trip, "departure_disrupted")
    assert trip_banners(trip=trip, user=people[0]) == []


def test_the_data_export_holds_the_choices_and_the_compensation_as_credit(credited):
    """ "Download my data": a late train's compensation and how it was asked for."""
    from payments.exports import payments_export

    _trip, people, _departure, _checkout = credited
    exported = payments_export(people[1])
    (compensation,) = exported["delay_compensations"]
    assert compensation["state"] == "credited" and compensation["percent"] == 25
    assert [p["form"] for p in exported["compensation_preferences"]] == ["credit"]


def test_the_data_export_holds_a_cancelled_train_s_choice(booked):
    from booking.exports import travel_export

    trip, people, departure, _checkout = booked
    disruptions.departure_cancel(departure_id=departure.pk)
    disruptions.disruptions_apply()
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[1])
    (choice,) = travel_export(people[1])["disruption_choices"]
    assert choice["ticket"] == ticket.code and choice["choice"] == "pending"
