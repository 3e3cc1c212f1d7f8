"""Disruptions: a departure cancelled, late, or run with another vehicle (docs/disruptions.md).

The operator's actions (``departure_cancel``, ``departure_delay``,
``departure_vehicle_swap``) record the disruption and its history in one short
transaction on the departure, and one ``DisruptedTrip`` work item per trip the departure
touches. The worker applies the items (``disruptions_apply``), one transaction per trip:
what happens depends on the trip's state when it is applied, not when the operator acted.

Inside each trip's transaction, before the trip is locked, ``signals.trip_disrupting``
lets ``payments`` do its part first (core/locking.py: Checkout → … → Trip): cancel a
checkout under way on the train (authorisations released after commit), compensate a
delay. ``booking`` imports nothing of ``payments``.

Every action is idempotent: repeating it (a double click, a traffic feed sending the
same news twice) writes nothing, and an item applied twice finds itself ``done``.
"""

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from booking import live, signals
from booking.disruption_selectors import comfort_wanted, rerouting_choices, seats_together_place
from booking.errors import (
    ChoiceAlreadyMade,
    ChoiceDeadlinePassed,
    ChoiceNotFound,
    DelayInvalid,
    DepartureAlreadyCancelled,
    DepartureNotFound,
)
from booking.models import (
    AllocationState,
    Booking,
    Departure,
    DisruptedTrip,
    Disruption,
    DisruptionChange,
    DisruptionChoice,
    PollOption,
    Seat,
    SeatAllocation,
    Ticket,
    Trip,
    TripLeg,
    Vehicle,
)
from booking.plan import holds_release, record
from booking.services import ticket_refunded_after_commit
from core import jobs, locking
from core.errors import Busy, InvalidInput
from groups.models import Membership
from notices.services import message_queue

JOB = "disruptions_apply"


def _config(key: str):
    return settings.SIDEBYSIDE[key]


def _departure_lock(departure_id: int) -> Departure:
    departure = (
        Departure.objects.select_for_update(of=("self",))
        .select_related("vehicle")
        .filter(pk=departure_id)
        .first()
    )
    if departure is None:
        raise DepartureNotFound()
    return departure


def _by(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _history(disruption: Disruption, what: str, data: dict, by) -> None:
    DisruptionChange.objects.create(disruption=disruption, what=what, data=data, by=_by(by))


def _trips_touched(departure_id: int) -> list[int]:
    """Trips with the departure settled on a leg, as a poll option, or with a live seat on
    it (three small queries, ids only)."""
    ids = set(
        TripLeg.objects.filter(departure_id=departure_id)
        .exclude(trip__status=Trip.Status.CANCELLED)
        .values_list("trip_id", flat=True)
    )
    ids |= set(
        PollOption.objects.filter(departure_id=departure_id)
        .exclude(leg__trip__status=Trip.Status.CANCELLED)
        .values_list("leg__trip_id", flat=True)
    )
    ids |= set(
        SeatAllocation.objects.filter(
            departure_id=departure_id,
            leg__isnull=False,
            state__in=[AllocationState.HELD, AllocationState.SOLD],
        ).values_list("leg__trip_id", flat=True)
    )
    return sorted(ids)


def _items_queue(disruption: Disruption, what: str, trip_ids: list[int]) -> int:
    DisruptedTrip.objects.bulk_create(
        [DisruptedTrip(disruption=disruption, trip_id=trip_id, what=what) for trip_id in trip_ids],
        ignore_conflicts=True,
    )
    if trip_ids:
        jobs.wake(JOB)
    return len(trip_ids)


# --- The operator's actions -------------------------------------------------------------------


@transaction.atomic
def departure_cancel(*, departure_id: int, reason: str = "", by=None) -> tuple[Disruption, bool]:
    """Cancel a departure: it can no longer be chosen or booked, and every trip it touches
    is queued for the worker. Returns ``(disruption, changed)``; a departure already
    cancelled is left as it is (``changed`` False)."""
    departure = _departure_lock(departure_id)
    disruption, created = Disruption.objects.get_or_create(
        departure=departure,
        kind=Disruption.Kind.CANCELLATION,
        defaults={
            "reason": reason[:300],
            "created_by": _by(by),
            "choose_by": timezone.now() + dt.timedelta(hours=_config("DISRUPTION_CHOOSE_HOURS")),
        },
    )
    if departure.status == Departure.Status.CANCELLED and not created:
        return disruption, False
    departure.status = Departure.Status.CANCELLED
    departure.save(update_fields=["status"])
    _history(disruption, "cancelled", {"reason": reason[:300]}, by)
    _items_queue(disruption, "cancelled", _trips_touched(departure.pk))
    return disruption, True


def departures_cancel(*, departure_ids: list[int], by=None) -> list[Departure]:
    """The admin's list action: cancel each scheduled departure among ``departure_ids``
    (``departure_cancel``, in id order); returns those it cancelled."""
    cancelled = []
    for departure_id in sorted(set(departure_ids)):
        disruption, changed = departure_cancel(departure_id=departure_id, by=by)
        if changed:
            cancelled.append(disruption.departure)
    return cancelled


@transaction.atomic
def departure_delay(
    *,
    departure_id: int,
    expected_arrival_at: dt.datetime | None = None,
    actual_arrival_at: dt.datetime | None = None,
    reason: str = "",
    by=None,
) -> tuple[Disruption, bool]:
    """Announce a delay: the expected arrival (told to the travellers), then the actual
    one (which decides compensation, ``payments``). Either may be given alone; both
    must be after the scheduled arrival. The same news again changes nothing; a
    cancelled train cannot be late (``DepartureAlreadyCancelled``)."""
    if expected_arrival_at is None and actual_arrival_at is None:
        raise DelayInvalid()
    departure = _departure_lock(departure_id)
    if departure.status == Departure.Status.CANCELLED:
        raise DepartureAlreadyCancelled()
    for at in (expected_arrival_at, actual_arrival_at):
        if at is not None and at <= departure.arrives_at:
            raise DelayInvalid()
    if actual_arrival_at is not None and actual_arrival_at > timezone.now():
        raise DelayInvalid(
            _("The actual arrival cannot be in the future."),
            fields={"actual_arrival_at": ["future"]},
        )
    disruption, _created = Disruption.objects.get_or_create(
        departure=departure, kind=Disruption.Kind.DELAY, defaults={"created_by": _by(by)}
    )
    changes = []
    if expected_arrival_at is not None and expected_arrival_at != disruption.expected_arrival_at:
        disruption.expected_arrival_at = expected_arrival_at
        changes.append("delay_expected")
    if actual_arrival_at is not None and disruption.actual_arrival_at is None:
        # The actual arrival is a fact, recorded once: compensation is paid on it.
        disruption.actual_arrival_at = actual_arrival_at
        changes.append("delay_actual")
    if reason and reason[:300] != disruption.reason:
        disruption.reason = reason[:300]
    if not changes:
        return disruption, False
    disruption.save()
    trips = _trips_touched(departure.pk)
    for what in changes:
        at = (
            disruption.expected_arrival_at
            if what == "delay_expected"
            else disruption.actual_arrival_at
        )
        _history(disruption, what, {"arrival_at": at.isoformat(), "reason": disruption.reason}, by)
        # A later expected time is news again: its item is made anew.
        if what == "delay_expected":
            DisruptedTrip.objects.filter(
                disruption=disruption, what=what, state=DisruptedTrip.State.DONE
            ).delete()
        _items_queue(disruption, what, trips)
    return disruption, True


@transaction.atomic
def departure_vehicle_swap(
    *, departure_id: int, vehicle_id: int, reason: str = "", by=None
) -> tuple[Disruption, bool]:
    """Run the departure with another vehicle (another seat map). The trips' travellers
    are seated again by the worker, side by side where possible; seats sold through
    other channels keep their label when the new map has it, else are released. The
    vehicle it already has: nothing changes."""
    departure = _departure_lock(departure_id)
    if departure.status == Departure.Status.CANCELLED:
        raise DepartureAlreadyCancelled()
    vehicle = Vehicle.objects.filter(pk=vehicle_id).first()
    if vehicle is None:
        raise InvalidInput(_("No such vehicle."), fields={"vehicle_id": ["not_found"]})
    if departure.vehicle_id == vehicle.pk:
        existing = (
            Disruption.objects.filter(
                departure=departure, kind=Disruption.Kind.VEHICLE_SWAP, new_vehicle=vehicle
            )
            .order_by("-pk")
            .first()
        )
        return existing, False
    disruption = Disruption.objects.create(
        departure=departure,
        kind=Disruption.Kind.VEHICLE_SWAP,
        reason=reason[:300],
        old_vehicle_id=departure.vehicle_id,
        new_vehicle=vehicle,
        created_by=_by(by),
    )
    old_vehicle_id = departure.vehicle_id
    departure.vehicle = vehicle
    departure.save(update_fields=["vehicle"])
    _history(
        disruption,
        "vehicle_swapped",
        {"from": old_vehicle_id, "to": vehicle.pk, "reason": reason[:300]},
        by,
    )
    _other_channels_move(departure, vehicle)
    _items_queue(disruption, "vehicle_swapped", _trips_touched(departure.pk))
    return disruption, True


def _other_channels_move(departure: Departure, vehicle: Vehicle) -> None:
    """Seats sold through other channels (no trip): the same coach and number on the new
    map when it has it and it is free, else released."""
    rows = locking.rows_lock(
        SeatAllocation.objects.filter(
            departure=departure, leg__isnull=True, state=AllocationState.SOLD
        ).select_related("seat__coach")
    )
    new_seats = {
        (s.coach.number, s.number): s.pk
        for s in Seat.objects.filter(coach__vehicle=vehicle).select_related("coach")
    }
    for allocation in rows:
        target = new_seats.pop((allocation.seat.coach.number, allocation.seat.number), None)
        if target is None:
            allocation.state = AllocationState.RELEASED
        else:
            allocation.seat_id = target
        allocation.save(update_fields=["state", "seat", "updated_at"])


# --- What it does to each trip: the worker -----------------------------------------------------


def disruptions_apply(*, limit: int | None = None) -> int:
    """The worker's job: apply pending items, one transaction per trip, oldest first. A
    trip busy right now (its lock, a checkout confirming) waits for the next pass.
    Returns how many it applied."""
    limit = limit or _config("DISRUPTION_BATCH_TRIPS")
    pending = list(
        DisruptedTrip.objects.filter(state=DisruptedTrip.State.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    applied = 0
    for item_id in pending:
        try:
            applied += disrupted_trip_apply(item_id=item_id)
        except Busy:
            continue
    return applied


@transaction.atomic
def disrupted_trip_apply(*, item_id: int) -> bool:
    """Apply one item: ``payments`` first (``trip_disrupting``), then the trip by its
    state, the event (the banner, live) and the messages; the item ``done``. False when
    it was done already (another worker, a second pass)."""
    item = DisruptedTrip.objects.select_related("disruption__departure").get(pk=item_id)
    if item.state == DisruptedTrip.State.DONE:
        return False
    disruption = item.disruption
    # Payments' rows come before the trip in the lock order: it goes first.
    signals.trip_disrupting.send(
        sender=DisruptedTrip,
        trip_id=item.trip_id,
        disruption_id=disruption.pk,
        departure_id=disruption.departure_id,
        what=item.what,
    )
    trip = Trip.objects.select_for_update(of=("self",)).get(pk=item.trip_id)
    item = DisruptedTrip.objects.select_for_update().get(pk=item_id)
    if item.state == DisruptedTrip.State.DONE:
        return False
    apply = {
        "cancelled": _trip_cancelled,
        "vehicle_swapped": _trip_vehicle_swapped,
        "delay_expected": _trip_delayed,
        "delay_actual": _trip_delayed,
    }[item.what]
    payload = apply(trip, disruption, item)
    if payload is not None:
        record(
            trip,
            "departure_disrupted",
            {
                "disruption_id": disruption.pk,
                "kind": disruption.kind,
                "what": item.what,
                "departure_id": disruption.departure_id,
                **payload,
            },
        )
    DisruptedTrip.objects.filter(pk=item.pk).update(
        state=DisruptedTrip.State.DONE, trip_status=trip.status, done_at=timezone.now()
    )
    return True


def _organisers(trip: Trip) -> list[int]:
    return list(
        Membership.objects.filter(
            group_id=trip.group_id,
            status=Membership.Status.ACTIVE,
            role=Membership.Role.ORGANISER,
        ).values_list("user_id", flat=True)
    )


def _valid_tickets(trip: Trip, departure_id: int):
    return Ticket.objects.filter(
        booking__trip=trip, state=Ticket.State.VALID, allocation__departure_id=departure_id
    ).order_by("pk")


def _trip_cancelled(trip: Trip, disruption: Disruption, item: DisruptedTrip) -> dict | None:
    departure_id = disruption.departure_id
    now = timezone.now()
    if trip.status == Trip.Status.CHECKOUT:
        # payments left the checkout alone (not on this train): only the poll's history.
        PollOption.objects.filter(leg__trip=trip, departure_id=departure_id).update(
            cancelled_at=now
        )
        return None
    if trip.status == Trip.Status.BOOKED:
        tickets = list(_valid_tickets(trip, departure_id).values("pk", "traveller_id"))
        if not tickets:  # booked on another train: the train was only an option
            PollOption.objects.filter(leg__trip=trip, departure_id=departure_id).update(
                cancelled_at=now
            )
            return None
        DisruptionChoice.objects.bulk_create(
            [
                DisruptionChoice(
                    disruption=disruption,
                    ticket_id=t["pk"],
                    traveller_id=t["traveller_id"],
                    choose_by=disruption.choose_by,
                )
                for t in tickets
            ],
            ignore_conflicts=True,
        )
        travellers = sorted({t["traveller_id"] for t in tickets})
        if travellers:
            message_queue(
                kind="booking.train_cancelled",
                object_id=item.pk,
                recipient_ids=travellers,
                trip_id=trip.pk,
            )
        return {
            "state": "booked",
            "travellers": travellers,
            "choose_by": disruption.choose_by.isoformat(),
        }
    if trip.status != Trip.Status.PLANNING:
        return None
    released = holds_release(
        SeatAllocation.objects.filter(
            leg__trip=trip, departure_id=departure_id, state=AllocationState.HELD
        ).order_by("pk")
    )
    PollOption.objects.filter(
        leg__trip=trip, departure_id=departure_id, cancelled_at__isnull=True
    ).update(cancelled_at=now)
    legs = list(
        TripLeg.objects.select_for_update(of=("self",))
        .filter(trip=trip, departure_id=departure_id)
        .values_list("direction", flat=True)
    )
    TripLeg.objects.filter(trip=trip, departure_id=departure_id).update(
        departure=None, settled_at=None
    )
    if legs:
        message_queue(
            kind="booking.choose_again",
            object_id=item.pk,
            recipient_ids=_organisers(trip),
            trip_id=trip.pk,
        )
    return {"state": "planning", "legs_unsettled": legs, "released": released}


def _trip_delayed(trip: Trip, disruption: Disruption, item: DisruptedTrip) -> dict | None:
    at = (
        disruption.actual_arrival_at
        if item.what == "delay_actual"
        else disruption.expected_arrival_at
    )
    travellers = []
    if trip.status == Trip.Status.BOOKED:
        travellers = sorted(
            set(
                _valid_tickets(trip, disruption.departure_id).values_list("traveller_id", flat=True)
            )
        )
        if not travellers:  # booked on another train
            return None
        if item.what == "delay_expected":
            message_queue(
                kind="booking.train_delayed",
                object_id=item.pk,
                recipient_ids=travellers,
                trip_id=trip.pk,
            )
    return {
        "state": trip.status,
        "arrival_at": at.isoformat(),
        "delay_minutes": int((at - disruption.departure.arrives_at).total_seconds() // 60),
        "travellers": travellers,
    }


# --- A vehicle swap: the trip's travellers seated again ------------------------------------------


def _trip_vehicle_swapped(trip: Trip, disruption: Disruption, item: DisruptedTrip) -> dict | None:
    departure = Departure.objects.get(pk=disruption.departure_id)
    old_seat_ids = Seat.objects.filter(coach__vehicle_id=disruption.old_vehicle_id).values("pk")
    # Holds of a trip still planning: released, the travellers pick again on the new map.
    released = holds_release(
        SeatAllocation.objects.filter(
            leg__trip=trip,
            departure=departure,
            state=AllocationState.HELD,
            seat_id__in=old_seat_ids,
        ).order_by("pk")
    )
    sold = locking.rows_lock(
        SeatAllocation.objects.filter(
            leg__trip=trip,
            departure=departure,
            state=AllocationState.SOLD,
            seat_id__in=old_seat_ids,
        ).select_related("seat")
    )
    wanted: dict[str, int] = defaultdict(int)
    for allocation in sold:
        wanted[allocation.seat.comfort_class] += 1
    placed = seats_together_place(departure, departure.vehicle_id, wanted) if sold else {}
    moved, unseated, seats = [], [], {}
    for allocation in sorted(sold, key=lambda a: (a.seat.comfort_class, a.user_id)):
        options = placed.get(allocation.seat.comfort_class) or []
        if not options:
            unseated.append(allocation.user_id)
            continue
        seat = options.pop(0)
        seats[allocation.seat_id] = "free"
        allocation.seat = seat
        allocation.save(update_fields=["seat", "updated_at"])
        seats[seat.pk] = "sold"
        moved.append({"user_id": allocation.user_id, "seat_id": seat.pk, "label": seat.label})
    if seats:
        live.after_commit_seats(departure.pk, seats)
    if unseated:
        # No seat of their class on the new map: they choose as for a cancelled train.
        tickets = Ticket.objects.filter(
            booking__trip=trip,
            state=Ticket.State.VALID,
            allocation__departure=departure,
            traveller_id__in=unseated,
        ).values("pk", "traveller_id")
        choose_by = timezone.now() + dt.timedelta(hours=_config("DISRUPTION_CHOOSE_HOURS"))
        DisruptionChoice.objects.bulk_create(
            [
                DisruptionChoice(
                    disruption=disruption,
                    ticket_id=t["pk"],
                    traveller_id=t["traveller_id"],
                    choose_by=choose_by,
                )
                for t in tickets
            ],
            ignore_conflicts=True,
        )
    if moved or unseated:
        message_queue(
            kind="booking.vehicle_swapped",
            object_id=item.pk,
            recipient_ids=[m["user_id"] for m in moved] + unseated,
            trip_id=trip.pk,
        )
    if not (moved or unseated or released):
        return None  # the train was only an option of the trip
    return {"state": trip.status, "moved": moved, "unseated": unseated, "released": released}


# --- A traveller's choice after a cancellation ------------------------------------------------


def choice_lock(*, ticket_id: int, by, now: dt.datetime | None = None) -> DisruptionChoice:
    """Inside the caller's transaction (after ``payments``' rows): the trip, then the
    traveller's pending choice for ``ticket_id``, checked. Not theirs or nothing to
    choose: ``ChoiceNotFound``; chosen already: ``ChoiceAlreadyMade``; too late:
    ``ChoiceDeadlinePassed``."""
    found = (
        DisruptionChoice.objects.filter(ticket_id=ticket_id)
        .values_list("ticket__booking__trip_id", "traveller_id")
        .first()
    )
    if found is None or by is None or not by.is_authenticated or found[1] != by.pk:
        raise ChoiceNotFound()
    Trip.objects.select_for_update(of=("self",)).get(pk=found[0])
    choice = (
        DisruptionChoice.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .get(ticket_id=ticket_id)
    )
    if choice.choice != DisruptionChoice.Choice.PENDING:
        raise ChoiceAlreadyMade()
    if (now or timezone.now()) > choice.choose_by:
        raise ChoiceDeadlinePassed()
    return choice


def choice_refund_record(*, choice: DisruptionChoice, refunded_cents: int, by) -> Ticket:
    """The traveller takes the full refund (art. 18): inside the caller's transaction,
    after ``choice_lock``: the choice recorded, the ticket cancelled with what
    ``payments`` refunds, its seat released (the train does not run: nobody is sold
    it), the booking cancelled once no ticket is valid, the trip told."""
    now = timezone.now()
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("leg", "booking")
        .get(pk=choice.ticket_id)
    )
    if not 0 <= refunded_cents <= ticket.price_cents - ticket.refunded_cents:
        raise ValueError("a refund is between 0 and what is left of the ticket's price")
    choice.choice, choice.chosen_at = DisruptionChoice.Choice.REFUND, now
    choice.save(update_fields=["choice", "chosen_at"])
    ticket.state, ticket.cancelled_at = Ticket.State.CANCELLED, now
    ticket.refunded_cents += refunded_cents
    ticket.save(update_fields=["state", "cancelled_at", "refunded_cents"])
    SeatAllocation.objects.filter(pk=ticket.allocation_id).exclude(
        state=AllocationState.RELEASED
    ).update(state=AllocationState.RELEASED, expires_at=None, updated_at=now)
    if not Ticket.objects.filter(booking_id=ticket.booking_id, state=Ticket.State.VALID).exists():
        Booking.objects.filter(pk=ticket.booking_id).update(state=Booking.State.CANCELLED)
    trip = Trip.objects.select_for_update(of=("self",)).get(pk=ticket.booking.trip_id)
    record(
        trip,
        "disruption_chosen",
        {
            "ticket_id": ticket.pk,
            "traveller": ticket.traveller_id,
            "choice": "refund",
            "leg": ticket.leg.direction,
            "refunded_cents": refunded_cents,
        },
        actor=by,
    )
    ticket_refunded_after_commit(ticket, refunded_cents)
    return ticket


def ticket_refund_add(*, ticket_id: int, cents: int) -> Ticket:
    """Inside the caller's transaction: ``cents`` more given back on a valid ticket (a
    delay compensation), never beyond its price; ``ticket_refunded`` after commit."""
    ticket = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket_id)
    if not 0 < cents <= ticket.price_cents - ticket.refunded_cents:
        raise ValueError("a refund is between 1 and what is left of the ticket's price")
    ticket.refunded_cents += cents
    ticket.save(update_fields=["refunded_cents"])
    refunded = {
        "booking_id": ticket.booking_id,
        "ticket_id": ticket.pk,
        "traveller_id": ticket.traveller_id,
        "refunded_cents": cents,
        "currency": ticket.currency,
    }
    transaction.on_commit(lambda: signals.ticket_refunded.send(sender=Ticket, **refunded))
    return ticket


# --- Re-routing together (art. 18(1)(b)): propose, accept, sit us together -------------------


def _member_lock(trip_id: int, user) -> tuple[Trip, bool]:
    """Lock the trip for an active traveller of it; returns it and whether they organise.
    Anyone else: ``TripNotFound`` (the trip does not exist for them)."""
    from booking.errors import TripNotFound

    trip = Trip.objects.select_for_update(of=("self",)).filter(pk=trip_id).first()
    membership = None
    if trip is not None and user is not None and user.is_authenticated:
        membership = Membership.objects.filter(
            group_id=trip.group_id, user=user, status=Membership.Status.ACTIVE
        ).first()
    if membership is None:
        raise TripNotFound()
    return trip, membership.role == Membership.Role.ORGANISER


def reroute_check(departure: Departure, disrupted: Departure, wanted: dict[str, int], now) -> None:
    """May the group go on ``departure`` instead of ``disrupted``? The same stations, a
    train still to leave and not cancelled, and enough free seats of each class."""
    from booking.errors import RerouteWrongRoute, TrainFull
    from booking.plan import departure_bookable

    if departure.pk == disrupted.pk or (departure.origin_id, departure.destination_id) != (
        disrupted.origin_id,
        disrupted.destination_id,
    ):
        raise RerouteWrongRoute()
    departure_bookable(departure, now)
    placed = seats_together_place(departure, departure.vehicle_id, wanted)
    if any(len(placed.get(c, [])) < n for c, n in wanted.items()):
        raise TrainFull()


@transaction.atomic
def reroute_propose(*, trip_id: int, disruption_id: int, departure_id: int, by, now=None):
    """The organiser (or, once ``REROUTE_ORGANISER_MINUTES`` have passed since the trip
    was told, any traveller) proposes the train the group goes on instead. The first
    proposal wins: two at once are ordered by the trip's lock, and the second is told
    ``RerouteAlreadyProposed``. Nothing is booked yet: each traveller accepts it or takes
    the refund."""
    from booking.errors import RerouteAlreadyProposed, RerouteOrganiserFirst
    from booking.models import Reroute

    now = now or timezone.now()
    trip, is_organiser = _member_lock(trip_id, by)
    disruption = Disruption.objects.select_related("departure").filter(pk=disruption_id).first()
    choices = (
        rerouting_choices(trip, disruption_id) if disruption else DisruptionChoice.objects.none()
    )
    if disruption is None or not choices.exists():
        raise ChoiceNotFound()
    if Reroute.objects.filter(disruption=disruption, trip=trip).exists():
        raise RerouteAlreadyProposed()
    if not is_organiser:
        told = (
            DisruptedTrip.objects.filter(disruption=disruption, trip=trip)
            .exclude(done_at=None)
            .values_list("done_at", flat=True)
            .first()
        )
        wait = dt.timedelta(minutes=_config("REROUTE_ORGANISER_MINUTES"))
        if told is None or now < told + wait:
            raise RerouteOrganiserFirst()
    departure = Departure.objects.filter(pk=departure_id).first()
    if departure is None:
        raise DepartureNotFound()
    reroute_check(departure, disruption.departure, comfort_wanted(choices), now)
    reroute = Reroute.objects.create(
        disruption=disruption, trip=trip, departure=departure, proposed_by=by
    )
    record(
        trip,
        "reroute_proposed",
        {"disruption_id": disruption.pk, "departure_id": departure.pk, "by": by.pk},
        actor=by,
    )
    return reroute


@transaction.atomic
def reroute_accept(*, ticket_id: int, by, now=None) -> DisruptionChoice:
    """The traveller takes the proposed train for this ticket (instead of the refund).
    Before its deadline, once a train is proposed; once only."""
    from booking.errors import RerouteNotProposed
    from booking.models import Reroute

    choice = choice_lock(ticket_id=ticket_id, by=by, now=now)
    trip = Trip.objects.select_for_update(of=("self",)).get(pk=choice.ticket.booking.trip_id)
    if not Reroute.objects.filter(disruption_id=choice.disruption_id, trip=trip).exists():
        raise RerouteNotProposed()
    choice.choice, choice.chosen_at = DisruptionChoice.Choice.REROUTE, timezone.now()
    choice.save(update_fields=["choice", "chosen_at"])
    record(
        trip,
        "disruption_chosen",
        {"ticket_id": choice.ticket_id, "traveller": by.pk, "choice": "reroute"},
        actor=by,
    )
    return choice


@transaction.atomic
def reroute_seat(*, trip_id: int, by, now=None) -> list[Ticket]:
    """ "Sit us together" on the proposed train: every traveller of the trip who accepted
    it and has no seat there yet is seated, side by side where a block fits (as
    ``plan.sit_together``), and, traveller by traveller, their old ticket is voided (its
    seat released) and a new one issued at the same price: no payment, any difference
    is the operator's. Not enough seats for all: ``TrainFull``, nothing written."""
    from django.db import IntegrityError

    from booking.errors import EveryoneRerouted, RerouteNotProposed, TrainFull
    from booking.models import Reroute
    from booking.services import _ticket_code

    now = now or timezone.now()
    trip, _is_organiser = _member_lock(trip_id, by)
    reroutes = {r.disruption_id: r for r in Reroute.objects.filter(trip=trip)}
    if not reroutes:
        raise RerouteNotProposed()
    choices = list(
        DisruptionChoice.objects.select_for_update(of=("self",))
        .filter(
            disruption_id__in=list(reroutes),
            ticket__booking__trip=trip,
            ticket__state=Ticket.State.VALID,
            choice=DisruptionChoice.Choice.REROUTE,
            new_ticket__isnull=True,
        )
        .select_related("ticket__fare_class", "ticket__allocation")
        .order_by("ticket__fare_class__comfort_class", "traveller_id", "pk")
    )
    if not choices:
        raise EveryoneRerouted()
    issued, seats_freed, seats_sold = [], defaultdict(dict), defaultdict(dict)
    for disruption_id, reroute in sorted(reroutes.items()):
        mine = [c for c in choices if c.disruption_id == disruption_id]
        if not mine:
            continue
        departure = _departure_lock(reroute.departure_id)
        reroute_check(
            departure,
            Departure.objects.get(pk=reroute.disruption.departure_id),
            {},
            now,
        )
        wanted: dict[str, int] = defaultdict(int)
        for choice in mine:
            wanted[choice.ticket.fare_class.comfort_class] += 1
        placed = seats_together_place(departure, departure.vehicle_id, wanted)
        if any(len(placed.get(c, [])) < n for c, n in wanted.items()):
            raise TrainFull()
        for choice in mine:
            old = choice.ticket
            seat = placed[old.fare_class.comfort_class].pop(0)
            old.state, old.cancelled_at = Ticket.State.CANCELLED, now
            old.save(update_fields=["state", "cancelled_at"])
            SeatAllocation.objects.filter(pk=old.allocation_id).update(
                state=AllocationState.RELEASED, expires_at=None, updated_at=now
            )
            seats_freed[old.allocation.departure_id][old.allocation.seat_id] = "free"
            try:
                with transaction.atomic():
                    allocation = SeatAllocation.objects.create(
                        departure=departure,
                        seat=seat,
                        state=AllocationState.SOLD,
                        leg_id=old.leg_id,
                        user_id=old.traveller_id,
                    )
            except IntegrityError as exc:  # taken meanwhile by another group's pick
                raise TrainFull() from exc
            seats_sold[departure.pk][seat.pk] = "sold"
            new = Ticket.objects.create(
                booking_id=old.booking_id,
                traveller_id=old.traveller_id,
                leg_id=old.leg_id,
                allocation=allocation,
                fare_class_id=old.fare_class_id,
                passenger_type_id=old.passenger_type_id,
                discount_card_id=old.discount_card_id,
                price_cents=old.price_cents,
                currency=old.currency,
                code=_ticket_code(),
            )
            choice.new_ticket = new
            choice.save(update_fields=["new_ticket"])
            issued.append(new)
        TripLeg.objects.filter(trip=trip, departure_id=reroute.disruption.departure_id).update(
            departure=departure
        )
    for departure_id, seats in {**seats_freed, **seats_sold}.items():
        live.after_commit_seats(departure_id, seats)
    record(
        trip,
        "rerouted",
        {
            "tickets": [
                {"traveller": t.traveller_id, "ticket_id": t.pk, "seat_id": t.allocation.seat_id}
                for t in issued
            ],
        },
        actor=by,
    )
    message_queue(
        kind="booking.rerouted",
        object_id=issued[0].booking_id,
        recipient_ids=[t.traveller_id for t in issued],
        trip_id=trip.pk,
    )
    return issued
