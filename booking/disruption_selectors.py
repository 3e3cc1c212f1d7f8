"""Reads of disruptions: the operator's view of a departure's disruptions, and what a
traveller sees on their trip page (the banner). Fixed query counts."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils import timezone

from booking.models import (
    AllocationState,
    Departure,
    DisruptedTrip,
    Disruption,
    DisruptionChoice,
    NeighbourKind,
    Seat,
    SeatAllocation,
    SeatNeighbour,
    Ticket,
    Trip,
)


def _views(disruptions) -> list[dict]:
    disruptions = list(
        disruptions.select_related("departure")
        .prefetch_related("changes")
        .annotate(
            trips_pending=Count("trips", filter=Q(trips__state=DisruptedTrip.State.PENDING)),
            trips_done=Count("trips", filter=Q(trips__state=DisruptedTrip.State.DONE)),
        )
    )
    return [
        {
            "id": d.pk,
            "departure_id": d.departure_id,
            "kind": d.kind,
            "reason": d.reason,
            "expected_arrival_at": d.expected_arrival_at,
            "actual_arrival_at": d.actual_arrival_at,
            "delay_minutes": d.delay_minutes,
            "new_vehicle_id": d.new_vehicle_id,
            "choose_by": d.choose_by,
            "trips_pending": d.trips_pending,
            "trips_done": d.trips_done,
            "changes": [{"what": c.what, "data": c.data, "at": c.at} for c in d.changes.all()],
        }
        for d in disruptions
    ]


def disruption_view(*, disruption_id: int) -> dict:
    return _views(Disruption.objects.filter(pk=disruption_id))[0]


def disruptions_of(*, departure_id: int) -> list[dict]:
    return _views(Disruption.objects.filter(departure_id=departure_id).order_by("created_at"))


@dataclass
class BannerChoice:
    ticket_id: int
    choice: str
    choose_by: dt.datetime
    open: bool
    refunded_cents: int
    currency: str
    new_seat: str = ""  # re-routed: the seat of the new ticket


@dataclass
class Banner:
    """One disruption of a trip's train as a traveller reads it."""

    disruption: Disruption
    departure: object
    delay_minutes: int | None
    choices: list[BannerChoice] = field(default_factory=list)
    # Re-routing (a cancellation): the train proposed, or, for whoever may propose one,
    # the best alternatives; "sit us together" waiting for those who accepted.
    reroute: object = None
    alternatives: list = field(default_factory=list)
    may_propose: bool = False
    to_seat: int = 0


def trip_banners(*, trip: Trip, user, now: dt.datetime | None = None) -> list[Banner]:
    """The disruptions of the trains the trip is on (settled legs, the viewer's tickets):
    cancellations, delays and vehicle swaps, newest first, each with the viewer's own
    choices after a cancellation. Two queries."""
    now = now or timezone.now()
    departure_ids = set(trip.legs.exclude(departure=None).values_list("departure_id", flat=True))
    departure_ids |= set(
        Ticket.objects.filter(booking__trip=trip).values_list("allocation__departure_id", flat=True)
    )
    # A planning trip's leg no longer names a cancelled train: its applied items do.
    applied = DisruptedTrip.objects.filter(
        trip=trip, state=DisruptedTrip.State.DONE, trip_status=Trip.Status.PLANNING
    )
    disruptions = list(
        Disruption.objects.filter(
            Q(departure_id__in=departure_ids) | Q(pk__in=applied.values("disruption_id"))
        )
        .select_related("departure__origin", "departure__destination", "new_vehicle")
        .order_by("-created_at")
        .distinct()
    )
    if not disruptions:
        return []
    mine = {}
    if user is not None and user.is_authenticated:
        for choice in DisruptionChoice.objects.filter(
            traveller=user, ticket__booking__trip=trip
        ).select_related("ticket", "new_ticket__allocation__seat__coach"):
            mine.setdefault(choice.disruption_id, []).append(
                BannerChoice(
                    ticket_id=choice.ticket_id,
                    choice=choice.choice,
                    choose_by=choice.choose_by,
                    open=choice.choice == DisruptionChoice.Choice.PENDING
                    and now <= choice.choose_by,
                    refunded_cents=choice.ticket.refunded_cents,
                    currency=choice.ticket.currency,
                    new_seat=choice.new_ticket.allocation.seat.label if choice.new_ticket else "",
                )
            )
    banners = [
        Banner(
            disruption=d,
            departure=d.departure,
            delay_minutes=d.delay_minutes if d.kind == Disruption.Kind.DELAY else None,
            choices=mine.get(d.pk, []),
        )
        for d in disruptions
    ]
    _reroutes_add(trip, user, banners, now)
    return banners


def _reroutes_add(trip: Trip, user, banners: list[Banner], now: dt.datetime) -> None:
    from django.conf import settings

    from booking.models import Reroute
    from groups.models import Membership

    cancelled = [b for b in banners if b.choices]
    if not cancelled:
        return
    reroutes = {
        r.disruption_id: r
        for r in Reroute.objects.filter(trip=trip).select_related(
            "departure__origin", "departure__destination"
        )
    }
    organiser = Membership.objects.filter(
        group_id=trip.group_id,
        user=user,
        status=Membership.Status.ACTIVE,
        role=Membership.Role.ORGANISER,
    ).exists()
    told = dict(
        DisruptedTrip.objects.filter(trip=trip)
        .exclude(done_at=None)
        .values_list("disruption_id", "done_at")
    )
    wait = dt.timedelta(minutes=settings.SIDEBYSIDE["REROUTE_ORGANISER_MINUTES"])
    for banner in cancelled:
        pk = banner.disruption.pk
        banner.reroute = reroutes.get(pk)
        still_open = any(c.open for c in banner.choices)
        if banner.reroute is None and still_open:
            banner.may_propose = organiser or (pk in told and now >= told[pk] + wait)
            if banner.may_propose:
                banner.alternatives = reroute_alternatives(trip=trip, disruption_id=pk, now=now)
        if banner.reroute is not None:
            banner.to_seat = DisruptionChoice.objects.filter(
                disruption_id=pk,
                ticket__booking__trip=trip,
                ticket__state=Ticket.State.VALID,
                choice=DisruptionChoice.Choice.REROUTE,
                new_ticket__isnull=True,
            ).count()


def choice_trip_id(*, ticket_id: int, user) -> int:
    """The trip of ``user``'s ticket that has a choice to make (or made); anyone else's,
    or none: ``ChoiceNotFound``."""
    from booking.errors import ChoiceNotFound

    found = None
    if user is not None and user.is_authenticated:
        found = (
            DisruptionChoice.objects.filter(ticket_id=ticket_id, traveller=user)
            .values_list("ticket__booking__trip_id", flat=True)
            .first()
        )
    if found is None:
        raise ChoiceNotFound()
    return found


@dataclass(frozen=True)
class Alternative:
    departure: object
    together: bool  # a block for each comfort class (else the group is split)
    free_seats: int


def reroute_alternatives(
    *, trip: Trip, disruption_id: int, limit: int = 5, now: dt.datetime | None = None
) -> list[Alternative]:
    """The trains the group may go on instead of the cancelled one: the same stations,
    still to leave and not cancelled, with enough free seats of each comfort class for
    those who still travel; those that seat everyone together first, then by earliest
    arrival. A few queries per candidate (at most 3 × ``limit`` candidates read)."""
    now = now or timezone.now()
    disruption = Disruption.objects.select_related("departure").filter(pk=disruption_id).first()
    if disruption is None:
        return []
    wanted = comfort_wanted(rerouting_choices(trip, disruption_id))
    if not wanted:
        return []
    disrupted = disruption.departure
    candidates = (
        Departure.objects.filter(
            origin_id=disrupted.origin_id,
            destination_id=disrupted.destination_id,
            status=Departure.Status.SCHEDULED,
            departs_at__gt=now,
        )
        .exclude(pk=disrupted.pk)
        .order_by("arrives_at", "pk")[: 3 * limit]
    )
    found = []
    for departure in candidates:
        placed = seats_together_place(departure, departure.vehicle_id, wanted)
        if any(len(placed.get(c, [])) < n for c, n in wanted.items()):
            continue
        together = all(_one_block(seats) for seats in placed.values())
        found.append(
            Alternative(
                departure=departure,
                together=together,
                free_seats=sum(len(s) for s in placed.values()),
            )
        )
    found.sort(key=lambda a: (not a.together, a.departure.arrives_at, a.departure.pk))
    return found[:limit]


def _one_block(seats) -> bool:
    """Seats in one coach are "together" for the ranking (the finder took its best block
    when one fitted; a split spreads over coaches)."""
    return len({seat.coach_id for seat in seats}) <= 1


# --- Seats for a group on a train (a vehicle swap, re-routing) ---------------------------------


def _free_seats(departure: Departure, vehicle_id: int, comfort_classes) -> tuple[list, dict, dict]:
    from booking.seating import FreeSeat

    now = timezone.now()
    taken = SeatAllocation.objects.filter(
        Q(state=AllocationState.SOLD)
        | Q(state=AllocationState.HELD, expires_at__isnull=True)
        | Q(state=AllocationState.HELD, expires_at__gt=now),
        departure=departure,
    ).values("seat_id")
    seats = list(
        Seat.objects.filter(coach__vehicle_id=vehicle_id, comfort_class__in=list(comfort_classes))
        .exclude(pk__in=taken)
        .select_related("coach")
    )
    side, facing = defaultdict(set), defaultdict(set)
    for seat_id, neighbour_id, kind in SeatNeighbour.objects.filter(
        seat__in=[s.pk for s in seats]
    ).values_list("seat_id", "neighbour_id", "kind"):
        (side if kind == NeighbourKind.SIDE_BY_SIDE else facing)[seat_id].add(neighbour_id)
    free = [
        (s, FreeSeat(s.pk, s.coach.number, s.deck, s.row, s.column, s.table_group)) for s in seats
    ]
    return free, side, facing


def seats_together_place(
    departure: Departure, vehicle_id: int, wanted: dict[str, int]
) -> dict[str, list[Seat]]:
    """Seats for a group on ``departure``'s ``vehicle_id``: per comfort class, ``wanted``
    seats side by side where a block fits (``booking.seating``, as "sit us together"),
    else the fewest groups; fewer seats than wanted when the class is full."""
    from booking.seating import best_block, best_split

    free, side, facing = _free_seats(departure, vehicle_id, wanted)
    placed: dict[str, list[Seat]] = {}
    for comfort_class, count in sorted(wanted.items()):
        here = [(seat, view) for seat, view in free if seat.comfort_class == comfort_class]
        by_id = {seat.pk: seat for seat, _view in here}
        views = [view for _seat, view in here]
        block = best_block(views, count, side=side, facing=facing)
        if block is not None:
            ids = list(block.seat_ids)
        else:
            ids = [i for group in best_split(views, count) for i in group]
        placed[comfort_class] = [by_id[i] for i in ids]
    return placed


def rerouting_choices(trip: Trip, disruption_id: int):
    """The trip's choices for this disruption that still travel (not refunded)."""
    return DisruptionChoice.objects.filter(
        disruption_id=disruption_id,
        ticket__booking__trip=trip,
        ticket__state=Ticket.State.VALID,
        choice__in=[DisruptionChoice.Choice.PENDING, DisruptionChoice.Choice.REROUTE],
        new_ticket__isnull=True,
    )


def comfort_wanted(choices) -> dict[str, int]:
    wanted: dict[str, int] = defaultdict(int)
    for comfort_class in choices.values_list("ticket__fare_class__comfort_class", flat=True):
        wanted[comfort_class] += 1
    return dict(wanted)


def reroute_proposed(*, trip: Trip, disruption_id: int) -> int | None:
    """The departure proposed instead, for this trip and disruption (None: not yet)."""
    from booking.models import Reroute

    return (
        Reroute.objects.filter(trip=trip, disruption_id=disruption_id)
        .values_list("departure_id", flat=True)
        .first()
    )
