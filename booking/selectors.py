"""Reads of the catalog and of seat availability. Each function costs a fixed number of
queries whatever the size of its answer (asserted in tests/booking/test_queries.py)."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from booking import pricing
from booking.errors import (
    CardNumberInvalid,
    DateOutOfRange,
    DepartureNotBookable,
    DepartureNotFound,
    EventNotFound,
    FareNotOffered,
    NotEligible,
    SameStations,
    TripClosedToJoiners,
    TripNotFound,
    UnknownStation,
)
from booking.models import (
    AllocationState,
    ComfortClass,
    Departure,
    DepartureFare,
    DiscountCard,
    Event,
    FareBucket,
    FareClass,
    PassengerType,
    Seat,
    SeatAllocation,
    SeatNeighbour,
    Station,
    Trip,
    TripLeg,
)
from groups.errors import GroupNotFound
from groups.models import FriendGroup, Membership
from groups.selectors import GroupAccess, group_access, user_memberships


def live_allocation_q(*, now: dt.datetime | None = None, prefix: str = "") -> Q:
    """Allocations that occupy their seat now: sold, or held and not yet expired."""
    now = now or timezone.now()
    p = prefix
    return Q(**{f"{p}state": AllocationState.SOLD}) | (
        Q(**{f"{p}state": AllocationState.HELD})
        & (Q(**{f"{p}expires_at__isnull": True}) | Q(**{f"{p}expires_at__gt": now}))
    )


# --- Stations and events -----------------------------------------------------------------


def station_list(*, query: str = "") -> list[Station]:
    stations = Station.objects.all()
    if query:
        stations = stations.filter(
            Q(name__icontains=query) | Q(city__icontains=query) | Q(code__iexact=query)
        )
    return list(stations)


def station_get(*, code: str, field: str = "station") -> Station:
    station = Station.objects.filter(code=code.strip().upper()).first() if code else None
    if station is None:
        raise UnknownStation(
            _("Unknown station: %(code)s.") % {"code": code},
            fields={field: [_("Unknown station.")]},
        )
    return station


def event_list(*, today: dt.date | None = None) -> list[Event]:
    today = today or timezone.localdate()
    return list(Event.objects.filter(ends_on__gte=today).select_related("station"))


# --- Search --------------------------------------------------------------------------------


@dataclass
class ClassAvailability:
    comfort_class: str
    label: str
    seats_total: int
    seats_left: int
    price_from_cents: int | None


@dataclass
class DepartureSummary:
    departure: Departure
    classes: list[ClassAvailability] = field(default_factory=list)
    currency: str = "EUR"

    @property
    def price_from_cents(self) -> int | None:
        prices = [c.price_from_cents for c in self.classes if c.price_from_cents is not None]
        return min(prices, default=None)

    @property
    def seats_left(self) -> int:
        return sum(c.seats_left for c in self.classes)


def _capacity_by_vehicle(vehicle_ids) -> dict[tuple[int, str], int]:
    rows = (
        Seat.objects.filter(coach__vehicle_id__in=vehicle_ids)
        .values("coach__vehicle_id", "comfort_class")
        .annotate(n=Count("id"))
    )
    return {(r["coach__vehicle_id"], r["comfort_class"]): r["n"] for r in rows}


def _taken_by_departure(departure_ids, *, now) -> dict[tuple[int, str], int]:
    rows = (
        SeatAllocation.objects.filter(live_allocation_q(now=now), departure_id__in=departure_ids)
        .values("departure_id", "seat__comfort_class")
        .annotate(n=Count("id"))
    )
    return {(r["departure_id"], r["seat__comfort_class"]): r["n"] for r in rows}


def _buckets_by_fare_class() -> dict[int, list[tuple[int, int]]]:
    buckets: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for b in FareBucket.objects.values_list("fare_class_id", "min_load_percent", "uplift_percent"):
        buckets[b[0]].append((b[1], b[2]))
    return buckets


def _summaries(departures: list[Departure], *, now) -> list[DepartureSummary]:
    capacity = _capacity_by_vehicle({d.vehicle_id for d in departures})
    taken = _taken_by_departure([d.id for d in departures], now=now)
    buckets = _buckets_by_fare_class()
    fares: dict[int, list[DepartureFare]] = defaultdict(list)
    for fare in DepartureFare.objects.filter(departure__in=departures).select_related("fare_class"):
        fares[fare.departure_id].append(fare)
    summaries = []
    for departure in departures:
        summary = DepartureSummary(departure=departure, currency=settings.SIDEBYSIDE["CURRENCY"])
        for comfort in ComfortClass:
            total = capacity.get((departure.vehicle_id, comfort.value), 0)
            if not total:
                continue
            used = taken.get((departure.id, comfort.value), 0)
            load = pricing.load_percent(taken=used, capacity=total)
            prices = [
                pricing.fare_amount(
                    base_cents=f.base_price_cents,
                    uplift_percent=pricing.bucket_uplift(
                        load=load, buckets=buckets[f.fare_class_id]
                    ),
                )
                for f in fares[departure.id]
                if f.fare_class.comfort_class == comfort.value
            ]
            summary.classes.append(
                ClassAvailability(
                    comfort_class=comfort.value,
                    label=str(comfort.label),
                    seats_total=total,
                    seats_left=max(0, total - used),
                    price_from_cents=min(prices) if prices and used < total else None,
                )
            )
        summaries.append(summary)
    return summaries


def departure_search(
    *, origin_code: str, destination_code: str, on_date: dt.date, now: dt.datetime | None = None
) -> list[DepartureSummary]:
    """Scheduled departures from origin to destination on a local date (the origin's time
    zone), still to leave, with seats left and the lowest adult price per comfort class."""
    now = now or timezone.now()
    origin = station_get(code=origin_code, field="origin")
    destination = station_get(code=destination_code, field="destination")
    if origin.pk == destination.pk:
        raise SameStations(fields={"destination": [_("Same as the origin.")]})
    zone = origin.zone
    today = now.astimezone(zone).date()
    if on_date < today:
        raise DateOutOfRange(_("That date is in the past."), fields={"date": [_("In the past.")]})
    max_days = settings.SIDEBYSIDE["SEARCH_MAX_DAYS_AHEAD"]
    if on_date > today + dt.timedelta(days=max_days):
        raise DateOutOfRange(
            _("Trains can be searched up to %(days)s days ahead.") % {"days": max_days},
            fields={"date": [_("Too far ahead.")]},
        )
    start = dt.datetime.combine(on_date, dt.time.min, tzinfo=zone)
    end = start + dt.timedelta(days=1)
    departures = list(
        Departure.objects.filter(
            origin=origin,
            destination=destination,
            status=Departure.Status.SCHEDULED,
            departs_at__gte=max(start, now),
            departs_at__lt=end,
        ).select_related("origin", "destination", "vehicle")
    )
    return _summaries(departures, now=now)


# --- One departure -------------------------------------------------------------------------


def departure_get(*, departure_id: int) -> Departure:
    departure = (
        Departure.objects.select_related("origin", "destination", "vehicle")
        .filter(pk=departure_id)
        .first()
    )
    if departure is None:
        raise DepartureNotFound()
    return departure


@dataclass
class SeatView:
    seat: Seat
    status: str  # free / held / sold


@dataclass
class DeckView:
    deck: str
    label: str
    rows: int
    columns: int
    seats: list[SeatView]


@dataclass
class CoachView:
    number: int
    comfort_classes: list[str]
    decks: list[DeckView]


@dataclass
class DepartureDetail:
    summary: DepartureSummary
    fares: list[dict]
    coaches: list[CoachView]

    @property
    def departure(self) -> Departure:
        return self.summary.departure


def seat_statuses(*, departure: Departure, now: dt.datetime | None = None) -> dict[int, str]:
    now = now or timezone.now()
    return dict(
        SeatAllocation.objects.filter(live_allocation_q(now=now), departure=departure).values_list(
            "seat_id", "state"
        )
    )


def departure_detail(*, departure_id: int, now: dt.datetime | None = None) -> DepartureDetail:
    """A departure with its fares (today's adult price) and its seat map with each seat's
    status: free, held or sold. No personal data: who holds a seat is not said here."""
    now = now or timezone.now()
    departure = departure_get(departure_id=departure_id)
    summary = _summaries([departure], now=now)[0]
    loads = {
        c.comfort_class: pricing.load_percent(
            taken=c.seats_total - c.seats_left, capacity=c.seats_total
        )
        for c in summary.classes
    }
    buckets = _buckets_by_fare_class()
    fares = []
    for fare in departure.fares.select_related("fare_class"):
        fc = fare.fare_class
        uplift = pricing.bucket_uplift(
            load=loads.get(fc.comfort_class, 100), buckets=buckets[fc.id]
        )
        fares.append(
            {
                "code": fc.code,
                "name": fc.name,
                "comfort_class": fc.comfort_class,
                "refundable": fc.refundable,
                "refund_fee_cents": fc.refund_fee_cents,
                "exchangeable": fc.exchangeable,
                "exchange_fee_cents": fc.exchange_fee_cents,
                "conditions": fc.conditions,
                "price_cents": pricing.fare_amount(
                    base_cents=fare.base_price_cents, uplift_percent=uplift
                ),
                "currency": fare.currency,
            }
        )
    statuses = seat_statuses(departure=departure, now=now)
    seats = list(
        Seat.objects.filter(coach__vehicle_id=departure.vehicle_id).select_related("coach")
    )
    coaches: dict[int, dict[str, list[SeatView]]] = defaultdict(lambda: defaultdict(list))
    for seat in seats:
        status = statuses.get(seat.id, "free")
        coaches[seat.coach.number][seat.deck].append(SeatView(seat=seat, status=status))
    coach_views = []
    deck_labels = {"lower": _("Lower deck"), "upper": _("Upper deck")}
    for number in sorted(coaches):
        decks = []
        for deck in ("upper", "lower"):
            deck_seats = coaches[number].get(deck)
            if not deck_seats:
                continue
            decks.append(
                DeckView(
                    deck=deck,
                    label=str(deck_labels[deck]),
                    rows=max(s.seat.row for s in deck_seats),
                    columns=max(s.seat.column for s in deck_seats) + 1,
                    seats=deck_seats,
                )
            )
        classes = sorted({s.seat.comfort_class for d in decks for s in d.seats})
        coach_views.append(CoachView(number=number, comfort_classes=classes, decks=decks))
    return DepartureDetail(summary=summary, fares=fares, coaches=coach_views)


# --- Neighbours ----------------------------------------------------------------------------


def seat_neighbours(*, seat: Seat, kind: str | None = None) -> list[Seat]:
    links = SeatNeighbour.objects.filter(seat=seat)
    if kind:
        links = links.filter(kind=kind)
    return [link.neighbour for link in links.select_related("neighbour")]


def seats_at_same_table(*, seat: Seat) -> list[Seat]:
    if not seat.table_group:
        return []
    return list(
        Seat.objects.filter(coach_id=seat.coach_id, table_group=seat.table_group).exclude(
            pk=seat.pk
        )
    )


# --- Prices for one traveller --------------------------------------------------------------


def price_quote(
    *,
    departure: Departure,
    fare_class_code: str,
    passenger_type_code: str = "adult",
    age: int | None = None,
    card_code: str = "",
    card_number: str = "",
    now: dt.datetime | None = None,
) -> pricing.PriceQuote:
    """The price of one traveller's ticket on a departure, checking their eligibility:
    age against the passenger type and the card, and the card number."""
    now = now or timezone.now()
    if departure.status != Departure.Status.SCHEDULED:
        raise DepartureNotBookable(_("This train is cancelled."))
    if departure.departs_at <= now:
        raise DepartureNotBookable(_("This train has already left."))
    fare = (
        DepartureFare.objects.select_related("fare_class")
        .filter(departure=departure, fare_class__code=fare_class_code)
        .first()
    )
    if fare is None:
        raise FareNotOffered()
    passenger = PassengerType.objects.filter(code=passenger_type_code).first()
    if passenger is None:
        raise NotEligible(_("Unknown passenger type."), fields={"passenger_type": [_("Unknown.")]})
    card = DiscountCard.objects.filter(code=card_code).first() if card_code else None
    if card_code and card is None:
        raise NotEligible(_("Unknown discount card."), fields={"card": [_("Unknown.")]})
    eligibility_check(passenger=passenger, age=age, card=card, card_number=card_number)
    reductions: list[tuple[str, int]] = [
        (f"passenger:{passenger.code}", passenger.reduction_percent)
    ]
    if card is not None:
        reductions.append((f"card:{card.code}", card.reduction_percent))
    seats_total = Seat.objects.filter(
        coach__vehicle_id=departure.vehicle_id, comfort_class=fare.fare_class.comfort_class
    ).count()
    taken = SeatAllocation.objects.filter(
        live_allocation_q(now=now),
        departure=departure,
        seat__comfort_class=fare.fare_class.comfort_class,
    ).count()
    buckets = list(
        FareBucket.objects.filter(fare_class=fare.fare_class).values_list(
            "min_load_percent", "uplift_percent"
        )
    )
    return pricing.quote(
        base_cents=fare.base_price_cents,
        currency=fare.currency,
        load=pricing.load_percent(taken=taken, capacity=seats_total),
        buckets=buckets,
        reductions=reductions,
    )


def eligibility_check(
    *, passenger: PassengerType, age: int | None, card: DiscountCard | None, card_number: str
) -> str:
    """Whether a traveller of ``age`` may travel as ``passenger`` with ``card`` (and that
    the card's number is valid); returns the normalised card number ("" without a card).
    The same rules for a price quote and for a traveller's choice in a trip's plan."""
    if age is not None and not passenger.accepts_age(age):
        raise NotEligible(
            _("Age %(age)s does not match the passenger type %(type)s.")
            % {"age": age, "type": _(passenger.name)},
            fields={"age": [_("Does not match the passenger type.")]},
        )
    if card is None:
        return ""
    if age is None:
        raise NotEligible(
            _("Your age is needed to use a discount card."),
            fields={"age": [_("Required with a discount card.")]},
        )
    if not card.accepts_age(age):
        raise NotEligible(
            _("The %(card)s is not valid at age %(age)s.") % {"card": _(card.name), "age": age},
            fields={"card": [_("Not valid at this age.")]},
        )
    return card_number_validate(card=card, number=card_number)


def card_number_validate(*, card: DiscountCard, number: str) -> str:
    """Returns the normalised number, or raises CardNumberInvalid with the reason."""
    digits = pricing.normalise_card_number(number or "")
    if not digits:
        raise CardNumberInvalid(
            _("Enter the number printed on your card."),
            fields={"card_number": [_("Required.")]},
        )
    if not digits.isascii() or not digits.isdigit():
        raise CardNumberInvalid(
            _("A card number has digits only."), fields={"card_number": [_("Digits only.")]}
        )
    if len(digits) != card.number_length:
        raise CardNumberInvalid(
            _("A %(card)s number has %(n)s digits.")
            % {"card": _(card.name), "n": card.number_length},
            fields={"card_number": [_("Wrong length.")]},
        )
    if not digits.startswith(card.number_prefix):
        raise CardNumberInvalid(
            _("This is not a %(card)s number.") % {"card": _(card.name)},
            fields={"card_number": [_("Wrong card.")]},
        )
    if not pricing.luhn_valid(digits):
        raise CardNumberInvalid(
            _("That card number has a typo (its check digit does not match)."),
            fields={"card_number": [_("Check digit does not match.")]},
        )
    return digits


def fare_class_list() -> list[FareClass]:
    return list(FareClass.objects.all())


def passenger_type_list() -> list[PassengerType]:
    return list(PassengerType.objects.order_by("min_age", "code"))


def discount_card_list() -> list[DiscountCard]:
    return list(DiscountCard.objects.order_by("code"))


# --- Trips -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TripView:
    """A trip as ``viewer`` may see it: ``access`` says whether they are a traveller, the
    organiser, waiting for approval, or a stranger looking at a public trip."""

    trip: Trip
    access: GroupAccess

    @property
    def group(self):
        return self.access.group


def _trips():
    return Trip.objects.select_related("origin", "destination", "event", "group")


# Once a trip is in one of these, nobody joins its group (issue 23, docs/payments.md "Who
# travels"): they would be a member with no seat, no share and no ticket.
CLOSED_TO_JOINERS = (Trip.Status.CHECKOUT, Trip.Status.BOOKED)


def trip_closed_to_joiners(*, group_id: int) -> Trip | None:
    """The group's trip that is being paid for or is booked (its legs' trains with it),
    else ``None``. One rule for the join page, the invitations and ``trip_join_check``."""
    return (
        _trips()
        .filter(group_id=group_id, status__in=CLOSED_TO_JOINERS)
        .prefetch_related("legs__departure__origin", "legs__departure__destination")
        .order_by("outbound_from", "pk")
        .first()
    )


def trip_trains_chosen(*, trip_id: int) -> list[TripLeg]:
    """The trip's legs whose train is chosen, outbound first, with their departures (one
    query): the invite page shows them to whoever may join while seats are picked."""
    return list(
        TripLeg.objects.filter(trip_id=trip_id, departure__isnull=False)
        .select_related("departure__origin", "departure__destination")
        .order_by("direction")
    )


def trip_join_check(group_id: int) -> None:
    """``groups.join_checks``' check: refuse a joiner (or a new invitation) while a trip
    of the group is being paid for or is booked."""
    if Trip.objects.filter(group_id=group_id, status__in=CLOSED_TO_JOINERS).exists():
        raise TripClosedToJoiners()


def tickets_still_to_use(*, user_id: int, now: dt.datetime | None = None):
    """The person's valid tickets whose train has not left yet, trip by trip: what
    deleting their account cancels (``payments.services.tickets_cancel_of_leaving_account``)
    and what its page lists first."""
    from booking.models import Ticket

    return (
        Ticket.objects.select_related("fare_class", "booking")
        .filter(
            traveller_id=user_id,
            state=Ticket.State.VALID,
            allocation__departure__departs_at__gt=now or timezone.now(),
        )
        .order_by("booking__trip_id", "pk")
    )


def trip_get_for(*, user, trip_id: int) -> TripView:
    """The one way to read a trip (three queries at most). A private or link trip does
    not exist for someone who is not one of its travellers: ``TripNotFound``."""
    trip = _trips().filter(pk=trip_id).first()
    if trip is None:
        raise TripNotFound()
    try:
        access = group_access(user=user, group_id=trip.group_id)
    except GroupNotFound:
        raise TripNotFound() from None
    return TripView(trip=trip, access=access)


def trips_for_user(*, user) -> list[tuple[Trip, Membership]]:
    """The trips of every group the user is in or waiting for, soonest first, each with the
    user's membership (two queries)."""
    memberships = {m.group_id: m for m in user_memberships(user=user)}
    trips = _trips().filter(group_id__in=memberships).order_by("outbound_from", "pk")
    return [(trip, memberships[trip.group_id]) for trip in trips]


def group_trips(*, group_id: int) -> list[Trip]:
    """The trips a friend group plans, soonest first (one query). No access check: for a
    caller that already holds the right to see the group (a valid invitation, membership).
    """
    return list(_trips().filter(group_id=group_id).order_by("outbound_from", "pk"))


def trip_member_counts(*, group_ids) -> dict[int, int]:
    """Active travellers per group (one query)."""
    rows = (
        Membership.objects.filter(group_id__in=group_ids, status=Membership.Status.ACTIVE)
        .values("group_id")
        .annotate(n=Count("pk"))
    )
    return {row["group_id"]: row["n"] for row in rows}


def event_get(*, slug: str) -> Event:
    event = Event.objects.select_related("station").filter(slug=slug).first()
    if event is None:
        raise EventNotFound()
    return event


def event_public_trips(*, event: Event, today: dt.date | None = None) -> list[Trip]:
    """Public trips to ``event`` still being planned, soonest first (one query); each has
    ``member_count`` (active travellers)."""
    today = today or timezone.localdate()
    return list(
        _trips()
        .filter(
            event=event,
            group__privacy=FriendGroup.Privacy.PUBLIC,
            status=Trip.Status.PLANNING,
            outbound_to__gte=today,
        )
        .annotate(
            member_count=Count(
                "group__memberships",
                filter=Q(group__memberships__status=Membership.Status.ACTIVE),
            )
        )
        .order_by("outbound_from", "pk")
    )
