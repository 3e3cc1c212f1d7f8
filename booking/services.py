"""Writes to the catalog and to trips. Each function runs in one transaction."""

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from booking import signals
from booking.errors import (
    DateOutOfRange,
    EventNotFound,
    SameStations,
    SeatMapInUse,
    SeatMapInvalid,
)
from booking.models import (
    Coach,
    Event,
    Facing,
    NeighbourKind,
    Seat,
    SeatNeighbour,
    Trip,
    TripLeg,
    Vehicle,
)
from booking.selectors import station_get
from core.errors import InvalidInput
from groups.errors import NotOrganiser
from groups.selectors import group_access
from groups.services import group_create
from notices.services import message_queue


def _neighbour_pairs(seats: list[Seat]) -> list[tuple[Seat, Seat, str]]:
    """Derive neighbours from geometry, so the seat map has one source of truth:
    side by side = same coach, deck and row, adjacent columns (the aisle is a column);
    facing = same coach, deck and column, consecutive rows, the front one facing backward
    and the rear one facing forward."""
    by_place = {(s.coach_id, s.deck, s.row, s.column): s for s in seats}
    pairs = []
    for seat in seats:
        right = by_place.get((seat.coach_id, seat.deck, seat.row, seat.column + 1))
        if right is not None:
            pairs.append((seat, right, NeighbourKind.SIDE_BY_SIDE))
        behind = by_place.get((seat.coach_id, seat.deck, seat.row + 1, seat.column))
        if (
            behind is not None
            and seat.facing == Facing.BACKWARD
            and behind.facing == Facing.FORWARD
        ):
            pairs.append((seat, behind, NeighbourKind.FACING))
    return pairs


def _canonical(vehicle: Vehicle) -> dict:
    coaches = []
    for coach in vehicle.coaches.prefetch_related("seats").order_by("number"):
        seats = sorted(
            (
                {
                    "number": s.number,
                    "deck": s.deck,
                    "row": s.row,
                    "column": s.column,
                    "position": s.position,
                    "facing": s.facing,
                    "table": s.table_group,
                    "comfort_class": s.comfort_class,
                }
                for s in coach.seats.all()
            ),
            key=lambda s: s["number"],
        )
        coaches.append({"number": coach.number, "double_deck": coach.double_deck, "seats": seats})
    return {"coaches": coaches}


def _canonical_input(data: dict) -> dict:
    coaches = []
    for coach in sorted(data["coaches"], key=lambda c: c["number"]):
        seats = sorted(
            (
                {
                    "number": s["number"],
                    "deck": s.get("deck", "lower"),
                    "row": s["row"],
                    "column": s["column"],
                    "position": s["position"],
                    "facing": s["facing"],
                    "table": s.get("table", ""),
                    "comfort_class": s["comfort_class"],
                }
                for s in coach["seats"]
            ),
            key=lambda s: s["number"],
        )
        coaches.append(
            {
                "number": coach["number"],
                "double_deck": coach.get("double_deck", False),
                "seats": seats,
            }
        )
    return {"coaches": coaches}


@transaction.atomic
def vehicle_import(*, data: dict) -> tuple[Vehicle, str]:
    """Create or replace a vehicle's seat map from validated import data (see
    ``booking.serializers.SeatMapImportSerializer`` and docs/seat-maps.md).

    Returns the vehicle and what happened: ``created``, ``unchanged`` or ``replaced``.
    Importing the same map again changes nothing; a different map for a vehicle that
    already runs departures is refused, because sold seats must keep their meaning.
    """
    vehicle = Vehicle.objects.select_for_update().filter(code=data["code"]).first()
    outcome = "created"
    if vehicle is not None:
        if _canonical(vehicle) == _canonical_input(data):
            changed = vehicle.name != data["name"] or vehicle.description != data.get(
                "description", ""
            )
            if changed:
                vehicle.name = data["name"]
                vehicle.description = data.get("description", "")
                vehicle.save(update_fields=["name", "description"])
            return vehicle, "unchanged"
        if vehicle.departure_set.exists():
            raise SeatMapInUse()
        vehicle.coaches.all().delete()
        vehicle.name = data["name"]
        vehicle.description = data.get("description", "")
        vehicle.save(update_fields=["name", "description"])
        outcome = "replaced"
    else:
        vehicle = Vehicle.objects.create(
            code=data["code"], name=data["name"], description=data.get("description", "")
        )
    seats: list[Seat] = []
    try:
        for coach_data in data["coaches"]:
            coach = Coach.objects.create(
                vehicle=vehicle,
                number=coach_data["number"],
                double_deck=coach_data.get("double_deck", False),
            )
            seats.extend(
                Seat(
                    coach=coach,
                    number=s["number"],
                    deck=s.get("deck", "lower"),
                    row=s["row"],
                    column=s["column"],
                    position=s["position"],
                    facing=s["facing"],
                    table_group=s.get("table", ""),
                    comfort_class=s["comfort_class"],
                )
                for s in coach_data["seats"]
            )
        with transaction.atomic():
            seats = Seat.objects.bulk_create(seats, batch_size=500)
    except IntegrityError as exc:
        raise SeatMapInvalid(
            _("Two coaches or seats share a number or a place: %(detail)s") % {"detail": exc}
        ) from exc
    _neighbours_store(seats)
    return vehicle, outcome


def _neighbours_store(seats: list[Seat]) -> None:
    links = []
    for seat, other, kind in _neighbour_pairs(seats):
        links.append(SeatNeighbour(seat=seat, neighbour=other, kind=kind))
        links.append(SeatNeighbour(seat=other, neighbour=seat, kind=kind))
    SeatNeighbour.objects.bulk_create(links, batch_size=1000)


@transaction.atomic
def coach_neighbours_rebuild(*, coach: Coach) -> None:
    """Derive a coach's neighbours again after its seats were edited by hand (admin)."""
    SeatNeighbour.objects.filter(seat__coach=coach).delete()
    _neighbours_store(list(coach.seats.all()))


# --- Trips -------------------------------------------------------------------------------


def _trip_dates(
    *,
    outbound_from: dt.date,
    outbound_to: dt.date | None,
    return_from: dt.date | None,
    return_to: dt.date | None,
    today: dt.date,
) -> tuple[dt.date, dt.date, dt.date | None, dt.date | None]:
    max_days = settings.SIDEBYSIDE["SEARCH_MAX_DAYS_AHEAD"]
    last_day = today + dt.timedelta(days=max_days)
    outbound_to = outbound_to or outbound_from
    if return_from is None and return_to is not None:
        return_from = return_to
    if return_from is not None:
        return_to = return_to or return_from
    errors: dict[str, list[str]] = {}
    if outbound_from < today:
        errors["outbound_from"] = [_("Choose a day from today on.")]
    elif outbound_from > last_day:
        errors["outbound_from"] = [
            _("Trains can be planned up to %(days)d days ahead.") % {"days": max_days}
        ]
    if outbound_to < outbound_from:
        errors["outbound_to"] = [_("The last day must come after the first.")]
    elif outbound_to > last_day:
        errors["outbound_to"] = [
            _("Trains can be planned up to %(days)d days ahead.") % {"days": max_days}
        ]
    if return_from is not None:
        if return_from < outbound_from:
            errors["return_from"] = [_("You cannot come back before you leave.")]
        elif return_to < return_from:
            errors["return_to"] = [_("The last day must come after the first.")]
        elif return_to > last_day:
            errors["return_to"] = [
                _("Trains can be planned up to %(days)d days ahead.") % {"days": max_days}
            ]
    if errors:
        raise DateOutOfRange(_("Some dates do not work for this trip."), fields=errors)
    return outbound_from, outbound_to, return_from, return_to


@transaction.atomic
def trip_create(
    *,
    organiser,
    origin_code: str,
    destination_code: str | None = None,
    event_slug: str | None = None,
    outbound_from: dt.date,
    outbound_to: dt.date | None = None,
    return_from: dt.date | None = None,
    return_to: dt.date | None = None,
    title: str = "",
    group_id: int | None = None,
    privacy: str = "private",
    requires_approval: bool = False,
    max_members: int | None = None,
    today: dt.date | None = None,
) -> Trip:
    """A new trip, for a new friend group (organised by ``organiser``) or, with
    ``group_id``, for a group ``organiser`` already organises ("the same friends again").

    The destination is a station, or an event's nearest station. The privacy, approval
    rule and size are the new group's; an existing group keeps its own.
    """
    origin = station_get(code=origin_code, field="origin")
    event = None
    if event_slug:
        event = Event.objects.select_related("station").filter(slug=event_slug).first()
        if event is None:
            raise EventNotFound(fields={"event": [_("No such event.")]})
        destination = event.station
    elif destination_code:
        destination = station_get(code=destination_code, field="destination")
    else:
        raise InvalidInput(
            _("Choose a destination or an event."),
            fields={"destination": [_("Choose a destination or an event.")]},
        )
    if origin.pk == destination.pk:
        raise SameStations(fields={"destination": [SameStations.default_message]})
    outbound_from, outbound_to, return_from, return_to = _trip_dates(
        outbound_from=outbound_from,
        outbound_to=outbound_to,
        return_from=return_from,
        return_to=return_to,
        today=today or timezone.localdate(),
    )
    title = " ".join((title or "").split())
    if not title:
        title = event.name if event else f"{origin.city} → {destination.city}"
    if group_id is None:
        group = group_create(
            organiser=organiser,
            name=title,
            privacy=privacy,
            requires_approval=requires_approval,
            max_members=max_members,
        )
    else:
        group = group_access(user=organiser, group_id=group_id)
        if not group.is_organiser:
            raise NotOrganiser(_("Only the group's organiser can plan a new trip for it."))
        group = group.group
    trip = Trip.objects.create(
        group=group,
        title=title[: Trip._meta.get_field("title").max_length],
        origin=origin,
        destination=destination,
        event=event,
        outbound_from=outbound_from,
        outbound_to=outbound_to,
        return_from=return_from,
        return_to=return_to,
        created_by=organiser,
    )
    TripLeg.objects.create(trip=trip, direction=TripLeg.Direction.OUTBOUND)
    if return_from is not None:
        TripLeg.objects.create(trip=trip, direction=TripLeg.Direction.RETURN)
    trip_id, user_id = trip.pk, organiser.pk
    transaction.on_commit(
        lambda: signals.trip_created.send(sender=Trip, trip_id=trip_id, user_id=user_id)
    )
    return trip


# --- Bookings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketItem:
    """One traveller's seat on one leg, priced (what ``payments`` froze at checkout)."""

    allocation_id: int
    traveller_id: int
    leg_id: int
    fare_class_id: int
    passenger_type_id: int
    discount_card_id: int | None
    price_cents: int
    currency: str


def _ticket_code() -> str:
    # 16 characters of an alphabet without look-alikes (no 0/O, 1/I): 80 bits.
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(16))


@transaction.atomic
def booking_confirm(*, trip_id: int, items: list[TicketItem], actor=None):
    """The trip is booked: its held seats in ``items`` become sold (never expiring), one
    ticket per item (traveller and leg) with a random code, the trip ``booked``, and a
    ``booking_confirmed`` event. Called by ``payments`` once every share is captured,
    inside its transaction. Seats no longer held for their traveller and leg:
    ``SeatsNoLongerHeld``, nothing written."""
    from booking import live
    from booking.errors import SeatsNoLongerHeld
    from booking.models import AllocationState, Booking, SeatAllocation, Ticket
    from booking.plan import record

    trip = Trip.objects.select_for_update().get(pk=trip_id)
    ids = [item.allocation_id for item in items]
    held = {
        a.pk: a
        for a in SeatAllocation.objects.select_for_update().filter(
            pk__in=ids, state=AllocationState.HELD, leg__trip_id=trip_id
        )
    }
    if not items or any(
        (held.get(i.allocation_id) is None)
        or (held[i.allocation_id].user_id, held[i.allocation_id].leg_id)
        != (i.traveller_id, i.leg_id)
        for i in items
    ):
        raise SeatsNoLongerHeld()
    now = timezone.now()
    SeatAllocation.objects.filter(pk__in=ids).update(
        state=AllocationState.SOLD, expires_at=None, updated_at=now
    )
    booking = Booking.objects.create(trip=trip, confirmed_at=now)
    Ticket.objects.bulk_create(
        [
            Ticket(
                booking=booking,
                traveller_id=item.traveller_id,
                leg_id=item.leg_id,
                allocation_id=item.allocation_id,
                fare_class_id=item.fare_class_id,
                passenger_type_id=item.passenger_type_id,
                discount_card_id=item.discount_card_id,
                price_cents=item.price_cents,
                currency=item.currency,
                code=_ticket_code(),
            )
            for item in items
        ]
    )
    trip.status = Trip.Status.BOOKED
    trip.save(update_fields=["status", "updated_at"])
    by_departure: dict[int, dict[int, str]] = {}
    for allocation in held.values():
        by_departure.setdefault(allocation.departure_id, {})[allocation.seat_id] = "sold"
    for departure_id, seats in by_departure.items():
        live.after_commit_seats(departure_id, seats)
    record(
        trip,
        "booking_confirmed",
        {"booking_id": booking.pk, "travellers": sorted({i.traveller_id for i in items})},
        actor=actor,
    )
    announced = {
        "booking_id": booking.pk,
        "trip_id": trip.pk,
        "traveller_ids": sorted({i.traveller_id for i in items}),
        "amount_cents": sum(i.price_cents for i in items),
        "currency": items[0].currency if items else settings.SIDEBYSIDE["CURRENCY"],
    }
    message_queue(
        kind="booking.booking_confirmed",
        object_id=booking.pk,
        recipient_ids=announced["traveller_ids"],
        trip_id=trip.pk,
    )
    transaction.on_commit(lambda: signals.booking_confirmed.send(sender=Booking, **announced))
    return booking


def booking_flag_disputed(*, trip_id: int):
    """A payer disputed a charge of the trip's booking with their bank (a chargeback):
    the booking is flagged for staff (``Booking.disputed``), nothing else changes: the
    tickets stay valid until staff decide. Returns the booking, or ``None`` when the trip
    has none (the dispute is then only in the payments' records). Idempotent."""
    from booking.models import Booking

    with transaction.atomic():
        booking = Booking.objects.select_for_update().filter(trip_id=trip_id).first()
        if booking is not None and not booking.disputed:
            booking.disputed = True
            booking.save(update_fields=["disputed"])
    return booking


@transaction.atomic
def ticket_cancel(*, ticket_id: int, by, refunded_cents: int = 0):
    """The ticket's traveller gives their ticket up: the ticket is cancelled (with what
    ``payments`` refunds for it, by the fare's rules), its seat is free again for anyone
    (the departure's watchers see it after commit), the trip is told
    (``ticket_cancelled``), and the booking is cancelled once none of its tickets is
    valid. Called by ``payments.services.ticket_cancel`` inside its transaction. Only the
    traveller may (anyone else: ``TicketNotFound``, as for a ticket that does not exist).
    Returns ``(ticket, changed)``: a ticket already cancelled is returned unchanged."""
    from booking import live
    from booking.errors import DepartureNotBookable, TicketNotFound
    from booking.models import AllocationState, Booking, SeatAllocation, Ticket
    from booking.plan import record

    found = Ticket.objects.filter(pk=ticket_id).values_list("booking__trip_id", flat=True).first()
    if found is None or by is None or not by.is_authenticated:
        raise TicketNotFound()
    trip = Trip.objects.select_for_update().get(pk=found)
    ticket = Ticket.objects.select_for_update().select_related("leg").get(pk=ticket_id)
    if ticket.traveller_id != by.pk:
        raise TicketNotFound()
    if ticket.state == Ticket.State.CANCELLED:
        return ticket, False
    if not 0 <= refunded_cents <= ticket.price_cents:
        raise ValueError("a refund is between 0 and the ticket's price")
    now = timezone.now()
    ticket.state = Ticket.State.CANCELLED
    ticket.cancelled_at = now
    ticket.refunded_cents = refunded_cents
    ticket.save(update_fields=["state", "cancelled_at", "refunded_cents"])
    allocation = (
        SeatAllocation.objects.select_for_update(of=("self",))
        .select_related("departure")
        .get(pk=ticket.allocation_id)
    )
    if allocation.departure.departs_at <= now:
        raise DepartureNotBookable(_("This train has already left."))
    if allocation.state != AllocationState.RELEASED:
        allocation.state = AllocationState.RELEASED
        allocation.expires_at = None
        allocation.save(update_fields=["state", "expires_at", "updated_at"])
        live.after_commit_seats(allocation.departure_id, {allocation.seat_id: "free"})
    if not Ticket.objects.filter(booking_id=ticket.booking_id, state=Ticket.State.VALID).exists():
        Booking.objects.filter(pk=ticket.booking_id).update(state=Booking.State.CANCELLED)
    record(
        trip,
        "ticket_cancelled",
        {
            "ticket_id": ticket.pk,
            "traveller": ticket.traveller_id,
            "leg": ticket.leg.direction,
            "departure_id": allocation.departure_id,
            "seat_id": allocation.seat_id,
        },
        actor=by,
    )
    message_queue(
        kind="booking.ticket_cancelled",
        object_id=ticket.pk,
        recipient_ids=[ticket.traveller_id],
        trip_id=trip.pk,
    )
    ticket_refunded_after_commit(ticket, refunded_cents)
    return ticket, True


def ticket_refunded_after_commit(ticket, refunded_cents: int) -> None:
    """Tell payments (``signals.ticket_refunded``) to refund a cancelled ticket, once the
    cancellation has committed; nothing when there is nothing to refund."""
    if not refunded_cents:
        return
    refunded = {
        "booking_id": ticket.booking_id,
        "ticket_id": ticket.pk,
        "traveller_id": ticket.traveller_id,
        "refunded_cents": refunded_cents,
        "currency": ticket.currency,
    }
    transaction.on_commit(lambda: signals.ticket_refunded.send(sender=type(ticket), **refunded))
