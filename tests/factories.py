"""Builders of test data: a small but real catalog, made through the same import service
the operator uses. Each builder takes keyword overrides and returns saved objects."""

import datetime as dt
import itertools

from django.utils import timezone

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
    SeatAllocation,
    Station,
    Vehicle,
)
from booking.services import vehicle_import

_counter = itertools.count(1)
_people = itertools.count(1)


def station(code: str = "", name: str = "", city: str = "") -> Station:
    n = next(_counter)
    code = code or f"FR{chr(65 + n // 676 % 26)}{chr(65 + n // 26 % 26)}{chr(65 + n % 26)}"
    return Station.objects.create(code=code, name=name or f"Station {code}", city=city or "Ville")


def small_seat_map(code: str = "", *, first_rows: int = 2, second_rows: int = 3) -> dict:
    """One coach of first class (2+1, one table of four at rows 1-2) and one of second class
    (2+2 with a table of four at rows 1-2 on each side)."""
    code = code or f"test-vehicle-{next(_counter)}"
    coaches = []
    number = 1
    seats = []
    for row in range(1, first_rows + 1):
        for column, position in ((0, "window"), (1, "aisle"), (3, "window")):
            seats.append(
                {
                    "number": number,
                    "row": row,
                    "column": column,
                    "position": position,
                    "facing": "backward" if row == 1 else "forward",
                    "table": "T1" if row <= 2 and column < 2 else "",
                    "comfort_class": "first",
                }
            )
            number += 1
    coaches.append({"number": 1, "seats": seats})
    seats = []
    number = 1
    for row in range(1, second_rows + 1):
        for column, position in ((0, "window"), (1, "aisle"), (3, "aisle"), (4, "window")):
            table = ""
            if row <= 2:
                table = "A" if column < 2 else "B"
            seats.append(
                {
                    "number": number,
                    "row": row,
                    "column": column,
                    "position": position,
                    "facing": "backward" if row == 1 else "forward",
                    "table": table,
                    "comfort_class": "second",
                }
            )
            number += 1
    coaches.append({"number": 2, "seats": seats})
    return {"code": code, "name": f"Test train {code}", "coaches": coaches}


def vehicle(**overrides) -> Vehicle:
    data = small_seat_map(**overrides)
    return vehicle_import(data=data)[0]


def fare_classes() -> dict[str, FareClass]:
    classes = {}
    for code, name, comfort, refundable in (
        ("standard-2", "Standard", ComfortClass.SECOND, False),
        ("flex-2", "Flex", ComfortClass.SECOND, True),
        ("standard-1", "Standard", ComfortClass.FIRST, False),
        ("flex-1", "Flex", ComfortClass.FIRST, True),
    ):
        classes[code], _ = FareClass.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "comfort_class": comfort,
                "refundable": refundable,
                "refund_fee_cents": 500 if refundable else 0,
                "exchangeable": refundable,
            },
        )
    for fare_class in classes.values():
        for threshold, uplift in ((0, 0), (50, 20), (80, 50)):
            FareBucket.objects.get_or_create(
                fare_class=fare_class,
                min_load_percent=threshold,
                defaults={"uplift_percent": uplift},
            )
    return classes


def passenger_types() -> dict[str, PassengerType]:
    rows = (
        ("child", "Child 4–11", 4, 11, 50),
        ("youth", "Youth 12–27", 12, 27, 0),
        ("adult", "Adult 28–59", 28, 59, 0),
        ("senior", "Senior 60+", 60, None, 0),
    )
    return {
        code: PassengerType.objects.get_or_create(
            code=code,
            defaults={"name": name, "min_age": lo, "max_age": hi, "reduction_percent": pct},
        )[0]
        for code, name, lo, hi, pct in rows
    }


def discount_cards() -> dict[str, DiscountCard]:
    rows = (
        ("youth-card", "Youth card", 12, 27, 30, "2901", 12),
        ("senior-card", "Senior card", 60, None, 30, "2906", 12),
    )
    return {
        code: DiscountCard.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "min_age": lo,
                "max_age": hi,
                "reduction_percent": pct,
                "number_prefix": prefix,
                "number_length": length,
            },
        )[0]
        for code, name, lo, hi, pct, prefix, length in rows
    }


def departure(
    *,
    origin: Station | None = None,
    destination: Station | None = None,
    departs_at: dt.datetime | None = None,
    vehicle_obj: Vehicle | None = None,
    prices: dict[str, int] | None = None,
) -> Departure:
    origin = origin or station()
    destination = destination or station()
    departs_at = departs_at or timezone.now() + dt.timedelta(days=2)
    dep = Departure.objects.create(
        service_number=str(6000 + next(_counter)),
        origin=origin,
        destination=destination,
        departs_at=departs_at,
        arrives_at=departs_at + dt.timedelta(hours=2),
        vehicle=vehicle_obj or vehicle(),
    )
    classes = fare_classes()
    prices = prices or {"standard-2": 4500, "flex-2": 6500, "standard-1": 7000, "flex-1": 9000}
    for code, cents in prices.items():
        DepartureFare.objects.create(
            departure=dep, fare_class=classes[code], base_price_cents=cents
        )
    return dep


def sell(departure_obj: Departure, seats) -> list[SeatAllocation]:
    return [
        SeatAllocation.objects.create(departure=departure_obj, seat=s, state=AllocationState.SOLD)
        for s in seats
    ]


def event(*, station_obj: Station | None = None, days_ahead: int = 10) -> Event:
    today = timezone.localdate()
    n = next(_counter)
    return Event.objects.create(
        slug=f"event-{n}",
        name=f"Event {n}",
        kind=Event.Kind.CONCERT,
        station=station_obj or station(),
        venue="Arena",
        starts_on=today + dt.timedelta(days=days_ahead),
        ends_on=today + dt.timedelta(days=days_ahead),
    )


# --- People, friend groups, trips -------------------------------------------------------


def user(name: str = "", *, email: str = "", facebook_id: str | None = None):
    """A traveller with a profile (as after an e-mail or Facebook signup)."""
    from django.contrib.auth import get_user_model

    from groups.models import Profile

    n = next(_people)
    name = name or f"Traveller {n}"
    account = get_user_model().objects.create_user(
        username=f"user{n}", email=email or f"traveller{n}@example.test"
    )
    Profile.objects.create(user=account, display_name=name, facebook_id=facebook_id)
    return account


def trip(*, organiser=None, privacy: str = "private", days_ahead: int = 7, **overrides):
    """A trip Paris → Lyon for a new group organised by ``organiser`` (made if None)."""
    from booking.services import trip_create

    organiser = organiser or user("Olivia Organiser")
    for code, city in (("FRPLY", "Paris"), ("FRLPD", "Lyon")):
        if not Station.objects.filter(code=code).exists():
            station(code, city=city)
    fields = {
        "origin_code": "FRPLY",
        "destination_code": "FRLPD",
        "outbound_from": timezone.localdate() + dt.timedelta(days=days_ahead),
        "privacy": privacy,
    }
    fields.update(overrides)
    return trip_create(organiser=organiser, **fields)


def member(trip_obj, name: str = "", **kwargs):
    """A user who joined ``trip_obj``'s group through a fresh link from its organiser."""
    from groups.models import Membership
    from groups.services import invitation_accept, invitation_create

    organiser = Membership.objects.get(group=trip_obj.group, role="organiser", status="active").user
    _invitation, token = invitation_create(group_id=trip_obj.group_id, by=organiser)
    account = user(name, **kwargs)
    invitation_accept(token=token, user=account)
    return account


def planned_trip(
    *, travellers: int = 3, options: int = 2, privacy: str = "private", organiser=None
):
    """A trip Paris → Lyon with ``travellers`` active members (the organiser first) and
    ``options`` candidate departures on its outbound leg, proposed by the organiser.
    Returns (trip, [users], [departures])."""
    from booking.plan import poll_propose

    passenger_types()
    discount_cards()
    organiser = organiser or user("Olivia Organiser")
    trip_obj = trip(organiser=organiser, privacy=privacy, days_ahead=3)
    people = [organiser] + [member(trip_obj, f"Friend {n}") for n in range(1, travellers)]
    origin = Station.objects.get(code="FRPLY")
    destination = Station.objects.get(code="FRLPD")
    day = timezone.localdate() + dt.timedelta(days=3)
    train = vehicle()
    departures = [
        departure(
            origin=origin,
            destination=destination,
            vehicle_obj=train,
            departs_at=timezone.make_aware(dt.datetime.combine(day, dt.time(8 + 2 * n, 7))),
        )
        for n in range(options)
    ]
    if options >= 2:
        poll_propose(
            trip_id=trip_obj.pk,
            by=organiser,
            leg="outbound",
            departure_ids=[d.pk for d in departures],
        )
    trip_obj.refresh_from_db()
    return trip_obj, people, departures


def youth_card_number() -> str:
    """A valid Youth card number (prefix 2901, 12 digits, Luhn)."""
    from booking.pricing import luhn_check_digit

    partial = "29010000042"
    return partial + luhn_check_digit(partial)


def checkout_ready_trip(*, travellers: int = 3, fares: dict | None = None, organiser=None):
    """A planned trip (``planned_trip``) whose outbound train is settled (the first
    option) and whose travellers all sit together on it, each with a fare: ready for
    ``payments.services.checkout_start``. ``fares`` maps a traveller's index to
    ``plan.fare_choose`` arguments (chosen before seating); the others get the default
    fare of their seat. Returns (trip, [users], departure)."""
    from booking import plan

    trip_obj, people, departures = planned_trip(
        travellers=travellers, options=2, organiser=organiser
    )
    organiser = people[0]
    plan.poll_settle(
        trip_id=trip_obj.pk, by=organiser, leg="outbound", departure_id=departures[0].pk
    )
    for index, choice in (fares or {}).items():
        plan.fare_choose(trip_id=trip_obj.pk, user=people[index], leg="outbound", **choice)
    plan.sit_together(trip_id=trip_obj.pk, user=organiser, leg="outbound")
    trip_obj.refresh_from_db()
    return trip_obj, people, departures[0]


def booked_by_organiser(sandbox, *, travellers: int = 2, fares: dict | None = None):
    """``checkout_ready_trip`` booked: the organiser starts the checkout and pays every
    share with one card of the Stripe ``sandbox``. Returns (trip, [users], departure,
    checkout), the checkout confirmed."""
    from payments import services, tasks
    from payments.models import Share

    trip_obj, people, departure = checkout_ready_trip(travellers=travellers, fares=fares)
    checkout = services.checkout_start(trip_id=trip_obj.pk, by=people[0])
    services.payment_start(
        checkout_id=checkout.pk,
        payer=people[0],
        share_ids=list(Share.objects.filter(checkout=checkout).values_list("pk", flat=True)),
        payment_method=sandbox.card_payment_method(),
    )
    tasks.checkout_confirmations()  # the worker confirms off the request
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    trip_obj.refresh_from_db()
    return trip_obj, people, departure, checkout


def link_made_while_planning(trip, *, by, token: str = "a-link-made-while-planning") -> str:
    """An invitation link to ``trip``'s group as if made before its checkout (the service
    refuses to make one after), valid for 30 days. Returns its token."""
    import datetime as dt

    from groups.models import Invitation
    from groups.selectors import hash_token

    Invitation.objects.create(
        group_id=trip.group_id,
        created_by=by,
        token_hash=hash_token(token),
        expires_at=trip.created_at + dt.timedelta(days=30),
    )
    return token
