"""The live plan's services: poll, fares, seats as holds, expiry; each change bumps the
trip's version and appends one event; a refused change writes nothing."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from booking import errors, plan
from booking.models import (
    AllocationState,
    Seat,
    SeatAllocation,
    TravellerFare,
    Trip,
    TripEvent,
    TripLeg,
    TripPresence,
)
from booking.plan_selectors import events_since, plan_snapshot
from groups.errors import NotMember, NotOrganiser
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned():
    return factories.planned_trip(travellers=3, options=2)


def second_class_seats(departure):
    return list(
        Seat.objects.filter(coach__vehicle=departure.vehicle, comfort_class="second").order_by(
            "coach__number", "number"
        )
    )


def state(trip):
    trip.refresh_from_db()
    return (
        trip.version,
        TripEvent.objects.filter(trip=trip).count(),
        list(SeatAllocation.objects.order_by("pk").values_list("state", "seat_id", "user_id")),
        list(TravellerFare.objects.values_list("user_id", "fare_class__code")),
    )


def test_proposing_makes_options_bumps_the_version_and_logs_one_event(planned):
    trip, _people, departures = planned
    assert trip.version == 1
    event = TripEvent.objects.get(trip=trip)
    assert event.kind == "poll_proposed" and event.version == 1
    assert event.payload["departure_ids"] == [d.pk for d in departures]


def test_poll_rules(planned):
    trip, (olivia, ana, _ben), departures = planned
    before = state(trip)
    with pytest.raises(NotOrganiser):
        plan.poll_propose(
            trip_id=trip.pk, by=ana, leg="outbound", departure_ids=[d.pk for d in departures]
        )
    with pytest.raises(errors.PollInvalid):
        plan.poll_propose(
            trip_id=trip.pk, by=olivia, leg="outbound", departure_ids=[departures[0].pk]
        )
    wrong_way = factories.departure(
        origin=departures[0].destination, destination=departures[0].origin
    )
    with pytest.raises(errors.PollInvalid):
        plan.poll_propose(
            trip_id=trip.pk,
            by=olivia,
            leg="outbound",
            departure_ids=[departures[0].pk, wrong_way.pk],
        )
    with pytest.raises(errors.LegNotFound):  # a one-way trip has no return leg
        plan.poll_vote(trip_id=trip.pk, user=ana, leg="return", departure_id=departures[0].pk)
    with pytest.raises(errors.DepartureNotInPoll):
        plan.poll_vote(trip_id=trip.pk, user=ana, leg="outbound", departure_id=wrong_way.pk)
    assert state(trip) == before


def test_votes_tally_and_settling_releases_holds_on_other_options(planned):
    trip, (olivia, ana, ben), (early, late) = planned
    plan.poll_vote(trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk)
    plan.poll_vote(trip_id=trip.pk, user=ben, leg="outbound", departure_id=late.pk)
    plan.poll_vote(trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk)  # changes
    seats = second_class_seats(early)
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=late.pk, seat_id=seats[0].pk
    )
    plan.seat_pick(
        trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk, seat_id=seats[1].pk
    )

    snapshot = plan_snapshot(user=olivia, trip_id=trip.pk)
    options = {o["departure"]["id"]: o for o in snapshot["legs"][0]["options"]}
    assert options[early.pk]["votes"] == sorted([ana.pk, ben.pk])
    assert options[late.pk]["votes"] == []

    event = plan.poll_settle(trip_id=trip.pk, by=olivia, leg="outbound", departure_id=early.pk)
    assert event.payload["released"] == [
        {"departure_id": late.pk, "seat_id": seats[0].pk, "user_id": ana.pk}
    ]
    live = SeatAllocation.objects.filter(state=AllocationState.HELD)
    assert list(live.values_list("user_id", "departure_id")) == [(ben.pk, early.pk)]
    assert TripLeg.objects.get(trip=trip).departure == early
    with pytest.raises(errors.LegSettled):
        plan.poll_vote(trip_id=trip.pk, user=ana, leg="outbound", departure_id=late.pk)


def test_a_traveller_holds_one_seat_per_leg_and_changing_releases_the_old_one(planned):
    trip, (_olivia, ana, _ben), (early, _late) = planned
    first, second = second_class_seats(early)[:2]
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=first.pk
    )
    event = plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=second.pk
    )
    assert event.payload["released"] == [
        {"departure_id": early.pk, "seat_id": first.pk, "user_id": ana.pk}
    ]
    held = SeatAllocation.objects.filter(state="held")
    assert list(held.values_list("seat_id", flat=True)) == [second.pk]
    # A fare was given by default, in the seat's class.
    assert TravellerFare.objects.get(user=ana).fare_class.comfort_class == "second"


def test_a_seat_taken_by_someone_else_is_refused_and_nothing_changes(planned):
    trip, (_olivia, ana, ben), (early, _late) = planned
    seat = second_class_seats(early)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=seat.pk
    )
    before = state(trip)
    with pytest.raises(errors.SeatTaken):
        plan.seat_pick(
            trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk, seat_id=seat.pk
        )
    assert state(trip) == before
    sold = second_class_seats(early)[1]
    factories.sell(early, [sold])
    with pytest.raises(errors.SeatTaken):
        plan.seat_pick(
            trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk, seat_id=sold.pk
        )


def test_a_seat_of_another_class_than_the_fare_is_refused(planned):
    trip, (_olivia, ana, _ben), (early, _late) = planned
    plan.fare_choose(trip_id=trip.pk, user=ana, leg="outbound", fare_class_code="standard-2")
    first_class = Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="first").first()
    with pytest.raises(errors.WrongComfortClass):
        plan.seat_pick(
            trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=first_class.pk
        )
    other_train_seat = Seat.objects.exclude(coach__vehicle=early.vehicle).first()
    if other_train_seat is not None:
        with pytest.raises(errors.SeatNotOnThisTrain):
            plan.seat_pick(
                trip_id=trip.pk,
                user=ana,
                leg="outbound",
                departure_id=early.pk,
                seat_id=other_train_seat.pk,
            )


def test_changing_fare_class_releases_a_seat_of_the_old_class(planned):
    trip, (_olivia, ana, _ben), (early, _late) = planned
    seat = second_class_seats(early)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=seat.pk
    )
    event = plan.fare_choose(trip_id=trip.pk, user=ana, leg="outbound", fare_class_code="flex-1")
    assert [r["seat_id"] for r in event.payload["released"]] == [seat.pk]
    assert not SeatAllocation.objects.filter(state="held").exists()


def test_fare_eligibility_is_checked(planned):
    trip, (_olivia, ana, _ben), _departures = planned
    before = state(trip)
    cards = factories.discount_cards()
    youth = next(c for c in cards.values() if c.max_age and c.max_age < 30)
    with pytest.raises(errors.NotEligible):
        plan.fare_choose(
            trip_id=trip.pk,
            user=ana,
            leg="outbound",
            fare_class_code="standard-2",
            age=45,
            card_code=youth.code,
            card_number="123",
        )
    with pytest.raises(errors.CardNumberInvalid):
        plan.fare_choose(
            trip_id=trip.pk,
            user=ana,
            leg="outbound",
            fare_class_code="standard-2",
            passenger_type_code="youth",
            age=20,
            card_code=youth.code,
            card_number="123",
        )
    assert state(trip) == before


def test_strangers_and_pending_members_cannot_touch_the_plan(planned):
    trip, _people, (early, _late) = planned
    stranger = factories.user()
    with pytest.raises(errors.TripNotFound):
        plan.seat_pick(
            trip_id=trip.pk,
            user=stranger,
            leg="outbound",
            departure_id=early.pk,
            seat_id=second_class_seats(early)[0].pk,
        )
    with pytest.raises(errors.TripNotFound):
        plan_snapshot(user=stranger, trip_id=trip.pk)


def test_expired_holds_are_free_for_reads_and_the_next_pick_and_the_worker_releases_them(planned):
    trip, (_olivia, ana, ben), (early, _late) = planned
    seat = second_class_seats(early)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=seat.pk
    )
    SeatAllocation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert plan_snapshot(user=ben, trip_id=trip.pk)["legs"][0]["seats"] == []
    plan.seat_pick(
        trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk, seat_id=seat.pk
    )
    assert list(SeatAllocation.objects.filter(state="held").values_list("user_id", flat=True)) == [
        ben.pk
    ]
    SeatAllocation.objects.filter(state="held").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    version = Trip.objects.get(pk=trip.pk).version
    assert plan.holds_expire() == 1
    assert plan.holds_expire() == 0  # idempotent
    assert not SeatAllocation.objects.filter(state="held").exists()
    event = TripEvent.objects.get(trip=trip, version=version + 1)
    assert event.kind == "holds_expired"


def test_holds_of_a_trip_with_someone_online_are_kept_alive(planned):
    trip, (_olivia, ana, _ben), (early, _late) = planned
    seat = second_class_seats(early)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=seat.pk
    )
    soon = timezone.now() + dt.timedelta(seconds=30)
    SeatAllocation.objects.update(expires_at=soon)
    assert plan.holds_keep_alive() == 0  # nobody online
    TripPresence.objects.create(trip=trip, user=ana, channel_name="c1", last_seen_at=timezone.now())
    assert plan.holds_keep_alive() == 1
    assert SeatAllocation.objects.get().expires_at > soon + dt.timedelta(minutes=5)


def test_snapshot_costs_the_same_queries_for_2_or_8_travellers():
    def count(travellers):
        trip, people, (early, late) = factories.planned_trip(travellers=travellers)
        seats = second_class_seats(early)
        for person, seat in zip(people, seats, strict=False):
            plan.seat_pick(
                trip_id=trip.pk, user=person, leg="outbound", departure_id=early.pk, seat_id=seat.pk
            )
            plan.poll_vote(trip_id=trip.pk, user=person, leg="outbound", departure_id=late.pk)
        with CaptureQueriesContext(connection) as queries:
            snapshot = plan_snapshot(user=people[0], trip_id=trip.pk)
        assert len(snapshot["members"]) == travellers
        return len(queries)

    assert count(2) == count(8)


def test_snapshot_keeps_fares_private_unless_shared(planned):
    trip, (olivia, ana, _ben), _departures = planned
    plan.fare_choose(trip_id=trip.pk, user=ana, leg="outbound", fare_class_code="flex-2", age=30)
    leg = plan_snapshot(user=olivia, trip_id=trip.pk)["legs"][0]
    assert str(ana.pk) not in leg["fares"]
    assert all(str(ana.pk) not in o["prices"] for o in leg["options"])
    mine = plan_snapshot(user=ana, trip_id=trip.pk)["legs"][0]
    assert mine["fares"][str(ana.pk)]["fare_class"] == "flex-2"
    assert all(o["prices"][str(ana.pk)]["amount_cents"] > 0 for o in mine["options"])
    from groups.services import membership_share_details

    membership_share_details(group_id=trip.group_id, user=ana, shares=True)
    assert str(ana.pk) in plan_snapshot(user=olivia, trip_id=trip.pk)["legs"][0]["fares"]


def test_events_since_returns_missed_events_or_none_when_too_far(planned, settings):
    trip, (_olivia, ana, _ben), (early, _late) = planned
    plan.poll_vote(trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk)
    plan.poll_vote(trip_id=trip.pk, user=ana, leg="outbound", departure_id=None)
    missed = events_since(trip_id=trip.pk, version=1)
    assert [e["version"] for e in missed] == [2, 3]
    assert events_since(trip_id=trip.pk, version=3) == []
    assert events_since(trip_id=trip.pk, version=99) is None
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "EVENT_LOG_RESYNC_LIMIT": 1}
    assert events_since(trip_id=trip.pk, version=1) is None


def test_pending_members_are_not_members_of_the_plan():
    trip, _people, _deps = factories.planned_trip(travellers=1, options=2)
    from groups.services import group_update, invitation_accept, invitation_create

    organiser = _people[0]
    group_update(group_id=trip.group_id, by=organiser, requires_approval=True)
    _inv, token = invitation_create(group_id=trip.group_id, by=organiser)
    waiting = factories.user()
    invitation_accept(token=token, user=waiting)
    with pytest.raises(NotMember):
        plan_snapshot(user=waiting, trip_id=trip.pk)


def test_a_traveller_who_leaves_lets_go_of_their_seat_and_the_plan_says_so(
    planned, django_capture_on_commit_callbacks
):
    from groups.services import membership_leave

    trip, (_olivia, ana, _ben), (early, _late) = planned
    seat = second_class_seats(early)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=seat.pk
    )
    with django_capture_on_commit_callbacks(execute=True):
        membership_leave(group_id=trip.group_id, user=ana)
    assert not SeatAllocation.objects.filter(state="held").exists()
    event = TripEvent.objects.filter(trip=trip).latest("version")
    assert event.kind == "member_left"
    assert event.payload["released"] == [
        {"departure_id": early.pk, "seat_id": seat.pk, "user_id": ana.pk}
    ]


def test_the_worker_knows_the_plan_jobs():
    from core import jobs

    names = {job.name for job in jobs.registered()}
    assert {"holds_expire", "holds_keep_alive", "presence_cleanup"} <= names


def test_eligibility_is_checked_even_before_any_train_is_proposed():
    trip, (_olivia, ana, _ben), _none = factories.planned_trip(travellers=3, options=0)
    factories.fare_classes()
    with pytest.raises(errors.NotEligible):
        plan.fare_choose(
            trip_id=trip.pk,
            user=ana,
            leg="outbound",
            fare_class_code="standard-2",
            passenger_type_code="senior",
            age=20,
        )
    assert not TravellerFare.objects.exists()


def test_stale_connections_are_forgotten_and_the_others_told(
    planned, django_capture_on_commit_callbacks
):
    from booking.presence import presence_cleanup

    trip, (olivia, ana, _ben), _deps = planned
    old = timezone.now() - dt.timedelta(hours=1)
    TripPresence.objects.create(trip=trip, user=ana, channel_name="gone", last_seen_at=old)
    TripPresence.objects.create(
        trip=trip, user=olivia, channel_name="here", last_seen_at=timezone.now()
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert presence_cleanup() == 1
    assert len(callbacks) == 1  # one presence frame for the trip
    assert list(TripPresence.objects.values_list("user_id", flat=True)) == [olivia.pk]
