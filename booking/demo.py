"""The demo catalog: French high-speed lines with real station codes, a TGV Duplex-like
train, fares, passenger types, discount cards, two events, and seats already sold to other
travellers so that availability looks like a real booking day.

``demo_load`` is idempotent and safe to run at every start (``make run`` does): what exists
is never changed, so an operator's edits in the admin survive; only what is missing is
added. Run on a later day, it adds the days that came into the window. Catalog text is
stored in English, the source language (marked with ``gettext_noop``), and translated when
shown (``{% translate fare.conditions %}``, ``booking.serializers``), so one database
serves both languages.
"""

import datetime as dt
import math
import random
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from booking import pricing
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
    Station,
    Trip,
    Vehicle,
)
from booking.seatmaps import AISLE_COLUMN, duplex_seat_map
from booking.services import trip_create, vehicle_import
from groups.services import invitation_accept, invitation_create, person_create

PARIS = zoneinfo.ZoneInfo("Europe/Paris")

OPERATOR_USERNAME = "operator"
OPERATOR_PASSWORD = "sidebyside-demo"  # noqa: S105 - the documented local demo login

VEHICLE_CODE = "tgv-duplex-demo"

# (code, name, city): five-letter codes as used by French rail distribution systems.
STATIONS = (
    ("FRPLY", "Paris Gare de Lyon", "Paris"),
    ("FRPMO", "Paris Montparnasse", "Paris"),
    ("FRLPD", "Lyon Part-Dieu", "Lyon"),
    ("FRMSC", "Marseille Saint-Charles", "Marseille"),
    ("FRLLE", "Lille Europe", "Lille"),
    ("FRBOJ", "Bordeaux Saint-Jean", "Bordeaux"),
    ("FRNTE", "Nantes", "Nantes"),
    ("FRNIC", "Nice Ville", "Nice"),
    ("FRMPL", "Montpellier Saint-Roch", "Montpellier"),
    ("FRAVG", "Avignon TGV", "Avignon"),
    ("FRSTG", "Strasbourg", "Strasbourg"),
)


@dataclass(frozen=True)
class Route:
    """A line run in both directions. Each departure time of the day has its own train
    number, the same every day: outbound ``first_number + 2 * i`` (odd), the return
    ``first_number + 2 * i + 1`` (even), as French trains use odd and even numbers for the
    two directions."""

    origin: str
    destination: str
    minutes: int
    distance_km: int
    first_number: int
    outbound: tuple[str, ...]  # local departure times at the origin
    inbound: tuple[str, ...]  # local departure times at the destination

    def slots(self) -> Iterable[tuple[str, str, str, str]]:
        """(service number, from, to, local time) of every departure of a day."""
        for index, at in enumerate(self.outbound):
            yield str(self.first_number + 2 * index), self.origin, self.destination, at
        for index, at in enumerate(self.inbound):
            yield str(self.first_number + 2 * index + 1), self.destination, self.origin, at


ROUTES = (
    Route(
        "FRPLY", "FRLPD", 117, 430, 6601,
        ("06:00", "07:00", "08:00", "12:00", "17:00", "19:00"),
        ("06:34", "07:34", "09:34", "13:34", "17:34", "20:04"),
    ),
    Route(
        "FRPLY", "FRMSC", 200, 775, 6101,
        ("06:37", "09:37", "14:37", "18:37"),
        ("06:47", "10:47", "15:17", "19:17"),
    ),
    Route(
        "FRLPD", "FRMSC", 100, 315, 6801,
        ("07:20", "12:20", "18:20"),
        ("06:50", "11:50", "17:50"),
    ),
    Route(
        "FRLLE", "FRLPD", 180, 700, 5101,
        ("06:58", "12:58", "17:28"),
        ("07:04", "13:04", "17:34"),
    ),
    Route(
        "FRLLE", "FRMSC", 275, 1010, 5131,
        ("07:28", "15:58"),
        ("08:13", "15:43"),
    ),
    Route(
        "FRPMO", "FRBOJ", 125, 580, 8401,
        ("06:52", "08:52", "12:52", "17:52", "19:52"),
        ("06:04", "08:04", "13:04", "17:04", "20:04"),
    ),
    Route(
        "FRPMO", "FRNTE", 128, 390, 8801,
        ("07:08", "13:08", "18:08"),
        ("06:10", "12:10", "18:40"),
    ),
    Route(
        "FRPLY", "FRNIC", 340, 1085, 6171,
        ("07:19", "14:19"),
        ("08:27", "15:27"),
    ),
    Route(
        "FRPLY", "FRMPL", 200, 750, 6201,
        ("07:07", "12:07", "17:07"),
        ("06:36", "12:36", "17:36"),
    ),
    Route(
        "FRPLY", "FRAVG", 160, 690, 6151,
        ("07:19", "13:19", "17:19"),
        ("07:04", "12:34", "18:34"),
    ),
    Route(
        "FRLPD", "FRAVG", 65, 230, 6881,
        ("08:40", "17:40"),
        ("10:10", "19:10"),
    ),
    Route(
        "FRLPD", "FRSTG", 225, 490, 6701,
        ("07:30", "15:30"),
        ("07:05", "15:05"),
    ),
)  # fmt: skip

FARE_CODES = ("standard-2", "flex-2", "standard-1", "flex-1")
FARE_BUCKETS = ((0, 0), (50, 20), (75, 45), (90, 80))
FLEX_REFUND_FEE_CENTS = 500


def _round_price(cents: int) -> int:
    """Prices as shops show them: whole euros minus ten cents (42.90)."""
    return max(990, cents // 100 * 100 - 10)


def route_prices(route: Route) -> dict[str, int]:
    """Base prices in cents by fare class: scaled by distance; Flex 35 % above Standard;
    first class half as much again as second."""
    standard_2 = _round_price(900 + 8 * route.distance_km)
    standard_1 = _round_price(standard_2 * 3 // 2)
    return {
        "standard-2": standard_2,
        "flex-2": _round_price(standard_2 * 135 // 100),
        "standard-1": standard_1,
        "flex-1": _round_price(standard_1 * 135 // 100),
    }


def card_sample_number(card: DiscountCard) -> str:
    """A valid number for a card (right prefix and length, Luhn check digit): for demos."""
    body = (card.number_prefix + "48151623420042")[: max(card.number_length - 1, 0)]
    return body + pricing.luhn_check_digit(body)


# --- The report ----------------------------------------------------------------------------


@dataclass
class DemoReport:
    today: dt.date
    days: int
    vehicle_outcome: str = ""
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    totals: dict[str, int] = field(default_factory=dict)
    festival: Event | None = None
    festival_departures: int = 0
    concert: Event | None = None
    card_samples: list[tuple[str, str]] = field(default_factory=list)


COUNTED = (
    ("stations", Station),
    ("vehicles", Vehicle),
    ("seats", Seat),
    ("fare_classes", FareClass),
    ("passenger_types", PassengerType),
    ("discount_cards", DiscountCard),
    ("events", Event),
    ("departures", Departure),
    ("departure_fares", DepartureFare),
    ("seat_allocations", SeatAllocation),
    ("trips", Trip),
)


# --- The catalog ---------------------------------------------------------------------------


def _stations(report: DemoReport) -> dict[str, Station]:
    stations = {}
    for code, name, city in STATIONS:
        stations[code], created = Station.objects.get_or_create(
            code=code, defaults={"name": name, "city": city, "time_zone": "Europe/Paris"}
        )
        report.created["stations"] += created
    return stations


def _fare_classes(report: DemoReport) -> None:
    standard_conditions = gettext_noop(
        "Neither exchangeable nor refundable. Valid only on the train, date and seat booked."
    )
    flex_conditions = gettext_noop(
        "Exchangeable free of charge until departure. Refundable until departure, "
        "minus the refund fee."
    )
    rows = (
        ("standard-2", gettext_noop("Standard"), ComfortClass.SECOND, False, 10),
        ("flex-2", gettext_noop("Flex"), ComfortClass.SECOND, True, 20),
        ("standard-1", gettext_noop("Standard"), ComfortClass.FIRST, False, 30),
        ("flex-1", gettext_noop("Flex"), ComfortClass.FIRST, True, 40),
    )
    for code, name, comfort, flexible, order in rows:
        fare_class, created = FareClass.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "comfort_class": comfort,
                "refundable": flexible,
                "refund_fee_cents": FLEX_REFUND_FEE_CENTS if flexible else 0,
                "exchangeable": flexible,
                "exchange_fee_cents": 0,
                "conditions": flex_conditions if flexible else standard_conditions,
                "sort_order": order,
            },
        )
        report.created["fare_classes"] += created
        if created:
            FareBucket.objects.bulk_create(
                FareBucket(fare_class=fare_class, min_load_percent=load, uplift_percent=uplift)
                for load, uplift in FARE_BUCKETS
            )


def _passenger_types(report: DemoReport) -> None:
    rows = (
        ("child", gettext_noop("Child (4–11)"), 4, 11, 50, 10),
        ("youth", gettext_noop("Youth (12–27)"), 12, 27, 0, 20),
        ("adult", gettext_noop("Adult (28–59)"), 28, 59, 0, 30),
        ("senior", gettext_noop("Senior (60+)"), 60, None, 0, 40),
    )
    for code, name, low, high, percent, order in rows:
        _obj, created = PassengerType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "min_age": low,
                "max_age": high,
                "reduction_percent": percent,
                "sort_order": order,
            },
        )
        report.created["passenger_types"] += created


def _discount_cards(report: DemoReport) -> None:
    rows = (
        ("youth-card", gettext_noop("Youth card"), 12, 27, "2901", 10),
        ("adult-card", gettext_noop("Adult weekend card"), 28, 59, "2903", 20),
        ("senior-card", gettext_noop("Senior card"), 60, None, "2906", 30),
    )
    for code, name, low, high, prefix, order in rows:
        card, created = DiscountCard.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "min_age": low,
                "max_age": high,
                "reduction_percent": 30,
                "number_prefix": prefix,
                "number_length": 12,
                "sort_order": order,
            },
        )
        report.created["discount_cards"] += created
        report.card_samples.append((card.name, card_sample_number(card)))


def festival_dates(today: dt.date) -> tuple[dt.date, dt.date]:
    """The next Festival d'Avignon: three weeks of July from the first Saturday after the
    3rd (this year's while it is not over, else next year's)."""
    for year in (today.year, today.year + 1):
        start = dt.date(year, 7, 4)
        start += dt.timedelta(days=(5 - start.weekday()) % 7)
        end = start + dt.timedelta(days=21)
        if end >= today:
            return start, end
    raise AssertionError("unreachable")  # pragma: no cover


def _events(
    report: DemoReport, stations: dict[str, Station], today: dt.date
) -> tuple[Event, Event]:
    """The festival and the concert (created when missing)."""
    start, end = festival_dates(today)
    festival, created = Event.objects.get_or_create(
        slug=f"festival-avignon-{start.year}",
        defaults={
            "name": f"Festival d'Avignon {start.year}",
            "kind": Event.Kind.FESTIVAL,
            "station": stations["FRAVG"],
            "venue": gettext_noop("Palais des papes and theatres all over town"),
            "starts_on": start,
            "ends_on": end,
            "description": gettext_noop(
                "Three weeks of theatre, dance and music in the streets and courtyards of Avignon."
            ),
        },
    )
    report.created["events"] += created
    # A concert about twelve days ahead. Once it is over, the next run gives the demo a
    # new date rather than a second concert.
    concert_on = today + dt.timedelta(days=12)
    concert, created = Event.objects.get_or_create(
        slug="les-aiguilleurs-lyon",
        defaults={
            "name": "Les Aiguilleurs",
            "kind": Event.Kind.CONCERT,
            "station": stations["FRLPD"],
            "venue": "Halle Tony Garnier",
            "starts_on": concert_on,
            "ends_on": concert_on,
            "description": gettext_noop("The last date of their tour, in Lyon."),
        },
    )
    if not created and concert.ends_on < today:
        concert.starts_on = concert.ends_on = concert_on
        concert.save(update_fields=["starts_on", "ends_on"])
    report.created["events"] += created
    report.festival, report.concert = festival, concert
    return festival, concert


def _vehicle(report: DemoReport) -> Vehicle:
    data = duplex_seat_map(
        code=VEHICLE_CODE, name="TGV Duplex", first_class_coaches=1, second_class_coaches=3
    )
    vehicle, outcome = vehicle_import(data=data)
    report.vehicle_outcome = outcome
    if outcome != "unchanged":
        report.created["vehicles"] += outcome == "created"
        report.created["seats"] += sum(len(c["seats"]) for c in data["coaches"])
    return vehicle


# --- Seats sold to other travellers --------------------------------------------------------


def _seat_blocks(vehicle: Vehicle) -> dict[str, list[tuple[int, ...]]]:
    """Seat ids by comfort class, grouped as travellers book them: the pair (or the solo
    seat) on one side of the aisle in one row."""
    rows: dict[tuple, list[int]] = defaultdict(list)
    seats = (
        Seat.objects.filter(coach__vehicle=vehicle)
        .order_by("coach__number", "deck", "row", "column")
        .values_list("id", "comfort_class", "coach__number", "deck", "row", "column")
    )
    for seat_id, comfort, coach, deck, row, column in seats:
        rows[(comfort, coach, deck, row, column < AISLE_COLUMN)].append(seat_id)
    blocks: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    for key, ids in rows.items():
        blocks[key[0]].append(tuple(ids))
    return blocks


def _load_share(
    rng: random.Random, *, day: dt.date, today: dt.date, hour: int, boosted: bool
) -> float:
    """Share of the seats already sold: trains fill as the day comes near (a month ahead a
    train is nearly empty, the day before it is mostly sold), Friday and Sunday and the
    rush hours sell best, an event fills its trains early, and in the last days a few
    trains are nearly full. Every draw happens in the same order whatever the branch, so
    one seed gives one picture."""
    days_ahead = max(0, (day - today).days)
    share = 0.02 + 0.6 * math.exp(-days_ahead / 5.5)
    if day.weekday() in (4, 6):
        share *= 1.3
    elif day.weekday() == 5:
        share *= 0.85
    if hour in (7, 8, 17, 18, 19):
        share *= 1.15
    share *= rng.uniform(0.6, 1.4)
    if boosted:
        share += 0.12 + 0.2 * math.exp(-days_ahead / 14)
    nearly_full = rng.random() < (0.15 if days_ahead <= 3 else 0.08 if boosted else 0.0)
    full_share = rng.uniform(0.93, 0.98)
    if nearly_full:
        share = full_share
    return min(0.98, max(0.0, share))


def _sold_seats(rng: random.Random, blocks: list[tuple[int, ...]], share: float) -> list[int]:
    capacity = sum(len(b) for b in blocks)
    target = round(capacity * share)
    order = list(blocks)
    rng.shuffle(order)
    chosen: list[int] = []
    leftovers: list[int] = []
    for block in order:
        room = target - len(chosen)
        if room <= 0:
            break
        # A traveller alone takes one seat of a pair and leaves the other one free.
        if len(block) > 1 and (room == 1 or rng.random() < 0.35):
            taken = rng.randrange(len(block))
            chosen.append(block[taken])
            leftovers.extend(s for i, s in enumerate(block) if i != taken)
        else:
            chosen.extend(block)
    room = target - len(chosen)
    if room > 0:
        chosen.extend(rng.sample(leftovers, min(room, len(leftovers))))
    return chosen


# --- Departures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    route: Route
    service_number: str
    origin: str
    destination: str
    at: dt.time


def _slots(routes: Iterable[Route]) -> list[_Slot]:
    return [
        _Slot(route, number, origin, destination, dt.time.fromisoformat(at))
        for route in routes
        for number, origin, destination, at in route.slots()
    ]


def departure_times(day: dt.date, at: dt.time, minutes: int) -> tuple[dt.datetime, dt.datetime]:
    """A departure at local time ``at`` in Paris on ``day`` and its arrival, in UTC.
    zoneinfo gives the day's offset (a 06:00 train is 06:00 on both sides of a clock
    change); the duration is added in UTC, as wall-clock arithmetic on an aware datetime
    would make a train running across the change an hour too short or too long."""
    departs_at = dt.datetime.combine(day, at, tzinfo=PARIS).astimezone(dt.UTC)
    return departs_at, departs_at + dt.timedelta(minutes=minutes)


def _boosted(slot: _Slot, day: dt.date, events: list[Event]) -> bool:
    """Trains to an event in the days before and during it, and from it during and after."""
    one = dt.timedelta(days=1)
    for event in events:
        station = event.station.code
        if slot.destination == station and event.starts_on - one <= day <= event.ends_on:
            return True
        if slot.origin == station and event.starts_on <= day <= event.ends_on + one:
            return True
    return False


def _departures_of_day(
    *,
    day: dt.date,
    today: dt.date,
    slots: list[_Slot],
    stations: dict[str, Station],
    vehicle: Vehicle,
    blocks: dict[str, list[tuple[int, ...]]],
    fare_classes: dict[str, FareClass],
    events: list[Event],
    report: DemoReport,
) -> int:
    """Create the day's missing departures with their fares and sold seats, in one
    transaction. A departure that exists is left alone (it may have real sales)."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=PARIS)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=PARIS)
    with transaction.atomic():
        existing = {
            (number, at.astimezone(dt.UTC))
            for number, at in Departure.objects.filter(
                departs_at__gte=start, departs_at__lt=end
            ).values_list("service_number", "departs_at")
        }
        new: list[tuple[_Slot, Departure]] = []
        for slot in slots:
            departs_at, arrives_at = departure_times(day, slot.at, slot.route.minutes)
            if (slot.service_number, departs_at) in existing:
                continue
            new.append(
                (
                    slot,
                    Departure(
                        service_number=slot.service_number,
                        origin=stations[slot.origin],
                        destination=stations[slot.destination],
                        departs_at=departs_at,
                        arrives_at=arrives_at,
                        vehicle=vehicle,
                    ),
                )
            )
        if not new:
            return 0
        Departure.objects.bulk_create([d for _slot, d in new])
        currency = settings.SIDEBYSIDE["CURRENCY"]
        fares = []
        sold = []
        for slot, departure in new:
            for code, cents in route_prices(slot.route).items():
                fares.append(
                    DepartureFare(
                        departure=departure,
                        fare_class=fare_classes[code],
                        base_price_cents=cents,
                        currency=currency,
                    )
                )
            rng = random.Random(f"{slot.service_number}:{day.isoformat()}")
            second = _load_share(
                rng,
                day=day,
                today=today,
                hour=slot.at.hour,
                boosted=_boosted(slot, day, events),
            )
            first = min(0.98, second * rng.uniform(0.75, 1.05))
            for comfort, share in ((ComfortClass.SECOND, second), (ComfortClass.FIRST, first)):
                sold.extend(
                    SeatAllocation(departure=departure, seat_id=seat_id, state=AllocationState.SOLD)
                    for seat_id in _sold_seats(rng, blocks[comfort.value], share)
                )
        DepartureFare.objects.bulk_create(fares)
        SeatAllocation.objects.bulk_create(sold, batch_size=2000)
    report.created["departures"] += len(new)
    report.created["departure_fares"] += len(fares)
    report.created["seat_allocations"] += len(sold)
    return len(new)


def _days(today: dt.date, days: int, festival: Event) -> list[tuple[dt.date, list[Route] | None]]:
    """The days to fill and the routes of each (None: every route). The festival's days and
    the two around it come even beyond the window, with the routes to and from it."""
    plan: dict[dt.date, list[Route] | None] = {
        today + dt.timedelta(days=n): None for n in range(days)
    }
    festival_routes = [r for r in ROUTES if festival.station.code in (r.origin, r.destination)]
    day = max(today, festival.starts_on - dt.timedelta(days=2))
    while day <= festival.ends_on + dt.timedelta(days=2):
        plan.setdefault(day, festival_routes)
        day += dt.timedelta(days=1)
    return sorted(plan.items())


def demo_load(
    *,
    days: int = 30,
    today: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoReport:
    """Load the demo catalog and ``days`` days of departures from ``today`` (the local
    date in Paris), plus the festival's days. Safe to run again."""
    if days < 0:
        raise ValueError("days cannot be negative")
    today = today or timezone.now().astimezone(PARIS).date()
    report = DemoReport(today=today, days=days)
    with transaction.atomic():
        stations = _stations(report)
        vehicle = _vehicle(report)
        _fare_classes(report)
        _passenger_types(report)
        _discount_cards(report)
        festival, concert = _events(report, stations, today)
        report.created["trips"] += demo_trips_ensure(concert=concert, today=today)
    fare_classes = {f.code: f for f in FareClass.objects.filter(code__in=FARE_CODES)}
    events = list(
        Event.objects.filter(ends_on__gte=today - dt.timedelta(days=1)).select_related("station")
    )
    blocks = _seat_blocks(vehicle)
    all_slots = _slots(ROUTES)
    for day, routes in _days(today, days, festival):
        slots = all_slots if routes is None else _slots(routes)
        created = _departures_of_day(
            day=day,
            today=today,
            slots=slots,
            stations=stations,
            vehicle=vehicle,
            blocks=blocks,
            fare_classes=fare_classes,
            events=events,
            report=report,
        )
        if routes is not None:
            report.festival_departures += created
        if progress and created:
            progress(f"{day.isoformat()}: {created}")
    report.totals = {name: model.objects.count() for name, model in COUNTED}
    return report


def demo_operator_ensure() -> bool:
    """The local demo's staff superuser; True when it was created now. An existing user of
    that name is left as it is (its password too)."""
    users = get_user_model()
    if users.objects.filter(username=OPERATOR_USERNAME).exists():
        return False
    users.objects.create_superuser(username=OPERATOR_USERNAME, email="", password=OPERATOR_PASSWORD)
    return True


# Demo travellers: they log in by a code sent to their address (printed on the console of
# ``make run``). Their trips show the trip pages and an event's public trips.
DEMO_PEOPLE = (
    ("Camille Martin", "camille@demo.sidebyside.test", "fr"),
    ("Hugo Bernard", "hugo@demo.sidebyside.test", "fr"),
    ("Léa Dubois", "lea@demo.sidebyside.test", "en"),
)


def demo_trips_ensure(*, concert: Event, today: dt.date) -> int:
    """Camille's public trip to the concert with Hugo, and her private weekend in Marseille
    with Léa; created when missing (by title). Returns how many trips were created."""
    people = {
        email: person_create(name=name, email=email, language=language).user
        for name, email, language in DEMO_PEOPLE
    }
    camille, hugo, lea = (people[email] for _name, email, _lang in DEMO_PEOPLE)
    wanted = [
        (
            "Les Aiguilleurs à Lyon",
            {
                "event_slug": concert.slug,
                "privacy": "public",
                "outbound_from": concert.starts_on,
                "return_from": concert.starts_on + dt.timedelta(days=1),
            },
            hugo,
        ),
        (
            "Week-end à Marseille",
            {
                "destination_code": "FRMSC",
                "privacy": "private",
                "outbound_from": today + dt.timedelta(days=9),
                "outbound_to": today + dt.timedelta(days=10),
                "return_from": today + dt.timedelta(days=11),
            },
            lea,
        ),
    ]
    created = 0
    for title, fields, friend in wanted:
        if Trip.objects.filter(title=title, created_by=camille).exists():
            continue
        trip = trip_create(
            organiser=camille, origin_code="FRPLY", title=title, today=today, **fields
        )
        _invitation, token = invitation_create(group_id=trip.group_id, by=camille)
        invitation_accept(token=token, user=friend)
        created += 1
    return created
