"""The live plan's write path: every change to a trip's plan goes through one of these
services, whichever door it came in by (the websocket consumer or the REST API).

Each one, in one transaction:

1. locks the trip row (``select_for_update``; SQLite serialises writers anyway) and checks
   that the caller is an active traveller (or the organiser);
2. validates against the current state and raises a domain error, writing nothing;
3. writes, bumps ``trip.version`` and appends a ``TripEvent`` with the new version;
4. asks for the broadcasts after commit (``booking.live``).

Seats: "one live hold or sale per seat per departure" is the partial unique index
``one_live_allocation_per_seat``; of concurrent picks of one seat, the insert of exactly
one succeeds and the others get ``SeatTaken``. A hold whose time is up is released by the
next pick of that seat (and by the worker); reads already treat it as free.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, router, transaction
from django.db.models import Case, Count, F, OuterRef, Q, Subquery, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from booking import live, seat_pick_pg, seat_rules
from booking.errors import (
    DepartureNotInPoll,
    LegNotFound,
    LegSettled,
    NoBlockFits,
    PollInvalid,
    SeatTaken,
    TripLocked,
    TripNotFound,
)
from booking.models import (
    AllocationState,
    Departure,
    DepartureFare,
    DiscountCard,
    FareClass,
    NeighbourKind,
    PassengerType,
    PollOption,
    PollVote,
    Seat,
    SeatAllocation,
    SeatNeighbour,
    TravellerFare,
    Trip,
    TripEvent,
    TripLeg,
)
from booking.seat_rules import HeldRow, PickFacts, check_settled_choice
from booking.selectors import eligibility_check, price_quote
from core import locking
from core.errors import InvalidInput
from groups.errors import NotMember, NotOrganiser
from groups.models import Membership
from groups.selectors import user_display_name
from notices.services import message_queue

POLL_MIN_OPTIONS = 2
POLL_MAX_OPTIONS = 5


def _config(key: str):
    return settings.SIDEBYSIDE[key]


@dataclass
class Locked:
    trip: Trip
    user: object
    is_organiser: bool


def trip_lock(trip_id: int, user, *, organiser: bool = False) -> Locked:
    """Lock the trip row for a change by ``user`` (an active traveller; the organiser when
    ``organiser``), in the caller's transaction; the trip must still be planned. One query:
    the caller's membership comes with the locked row."""
    trips = Trip.objects.select_for_update(of=("self",)).filter(pk=trip_id)
    authenticated = user is not None and user.is_authenticated
    if authenticated:
        mine = Membership.objects.filter(group_id=OuterRef("group_id"), user=user)
        trips = trips.annotate(
            member_role=Subquery(mine.values("role")[:1]),
            member_status=Subquery(mine.values("status")[:1]),
        )
    trip = trips.first()
    if trip is None:
        raise TripNotFound()
    is_organiser = check_access(
        trip_status=trip.status,
        member_role=trip.member_role if authenticated else None,
        member_status=trip.member_status if authenticated else None,
        organiser=organiser,
    )
    return Locked(trip=trip, user=user, is_organiser=is_organiser)


def check_access(
    *, trip_status: str, member_role: str | None, member_status: str | None, organiser: bool
) -> bool:
    """May someone with this membership (role and status, None for none) change a trip
    in this status? Raises the domain error when not; returns whether they organise it.
    The same rule as ``groups.selectors.group_access`` for the plan: only active
    travellers; someone waiting for approval is told so; anyone else (a stranger on a
    public trip included) finds no plan here, as when reading it."""
    membership = None
    if member_status is not None:
        membership = Membership(role=member_role, status=member_status)
    if membership is None or not membership.is_active:
        if membership is not None and membership.status == Membership.Status.PENDING:
            raise NotMember()
        raise TripNotFound()
    if organiser and not membership.is_organiser:
        raise NotOrganiser()
    if trip_status != Trip.Status.PLANNING:
        raise TripLocked()
    return membership.is_organiser


_RECORD_SQL: dict[str, str] = {}  # database alias → the statement (built once)


def _record_statement(connection) -> str:
    """PostgreSQL: the version bump and the event's insert in one statement, with the
    tables' and columns' names from the models."""
    if connection.alias not in _RECORD_SQL:
        q = connection.ops.quote_name
        trip, event = Trip._meta, TripEvent._meta
        trip_id, version = q(trip.pk.column), q(trip.get_field("version").column)
        columns = ", ".join(
            q(event.get_field(name).column)
            for name in ("trip", "version", "kind", "payload", "actor", "created_at")
        )
        _RECORD_SQL[connection.alias] = f"""
            WITH bumped AS (
                UPDATE {q(trip.db_table)}
                SET {version} = {version} + 1, {q(trip.get_field("updated_at").column)} = %s
                WHERE {trip_id} = %s
                RETURNING {trip_id}, {version}
            )
            INSERT INTO {q(event.db_table)} ({columns})
            SELECT {trip_id}, {version}, %s, %s, %s, %s FROM bumped
            RETURNING {q(event.pk.column)}, {q(event.get_field("version").column)}
        """  # noqa: S608 - names from the models, every value a parameter
    return _RECORD_SQL[connection.alias]


def record(trip: Trip, kind: str, payload: dict, *, actor=None) -> TripEvent:
    """Bump the locked ``trip``'s version, append the event, broadcast it after commit.
    The one writer of events, for every change of the plan. Without ``save()``'s
    machinery (the pick's hottest statements, bench/pick_profile.py): on PostgreSQL one
    statement (the bump, then the insert from its ``RETURNING``), elsewhere an ``UPDATE``
    of the two columns and the event's ``INSERT``. The caller holds the trip's row lock,
    so the row's version is the one in memory plus one."""
    now = timezone.now()
    event = TripEvent(
        trip=trip,
        version=trip.version + 1,
        kind=kind,
        payload=payload,
        actor=actor if actor is not None and actor.is_authenticated else None,
        created_at=now,
    )
    connection = transaction.get_connection(router.db_for_write(TripEvent))
    if connection.vendor == "postgresql":
        payload_db = TripEvent._meta.get_field("payload").get_db_prep_save(payload, connection)
        with connection.cursor() as cursor:
            cursor.execute(
                _record_statement(connection),
                [now, trip.pk, kind, payload_db, event.actor_id, now],
            )
            event.pk, event.version = cursor.fetchone()
        event._state.adding, event._state.db = False, connection.alias
    else:
        Trip.objects.filter(pk=trip.pk).update(version=F("version") + 1, updated_at=now)
        TripEvent.objects.bulk_create([event])
    trip.version, trip.updated_at = event.version, now
    live.after_commit_trip_event(event)
    return event


def _leg(trip: Trip, direction: str, *, with_departure: bool = False) -> TripLeg:
    legs = TripLeg.objects.select_for_update(of=("self",)).filter(trip=trip, direction=direction)
    if with_departure:
        legs = legs.select_related("departure")
    leg = legs.first()
    if leg is None:
        raise LegNotFound()
    return leg


def _leg_route(trip: Trip, leg: TripLeg) -> tuple[int, int, dt.date, dt.date]:
    if leg.direction == TripLeg.Direction.OUTBOUND:
        return trip.origin_id, trip.destination_id, trip.outbound_from, trip.outbound_to
    return trip.destination_id, trip.origin_id, trip.return_from, trip.return_to


def departure_bookable(departure: Departure, now: dt.datetime) -> None:
    """Raise ``DepartureNotBookable`` for a train that is cancelled or has left."""
    seat_rules.bookable_check(departure.status, departure.departs_at, now)


# --- The departure poll ------------------------------------------------------------------


@transaction.atomic
def poll_propose(*, trip_id: int, by, leg: str, departure_ids: list[int]) -> TripEvent:
    """The organiser sets a leg's candidate departures (2 to 5, on the leg's route and
    dates). Votes for a kept option stay; votes for a dropped one go."""
    locked = trip_lock(trip_id, by, organiser=True)
    trip_leg = _leg(locked.trip, leg)
    if trip_leg.departure_id is not None:
        raise LegSettled()
    ids = list(dict.fromkeys(int(i) for i in departure_ids))
    if not POLL_MIN_OPTIONS <= len(ids) <= POLL_MAX_OPTIONS:
        raise PollInvalid(fields={"departure_ids": [PollInvalid.default_message]})
    origin_id, destination_id, first_day, last_day = _leg_route(locked.trip, trip_leg)
    departures = {d.pk: d for d in Departure.objects.select_related("origin").filter(pk__in=ids)}
    now = timezone.now()
    for departure_id in ids:
        departure = departures.get(departure_id)
        if departure is None or (departure.origin_id, departure.destination_id) != (
            origin_id,
            destination_id,
        ):
            raise PollInvalid(
                _("Train %(id)s does not run on this trip's route.") % {"id": departure_id},
                fields={"departure_ids": [_("Not on this route.")]},
            )
        local_day = departure.departs_at.astimezone(departure.origin.zone).date()
        if not first_day <= local_day <= last_day:
            raise PollInvalid(
                _("Train %(number)s leaves outside the trip's dates.")
                % {"number": departure.service_number},
                fields={"departure_ids": [_("Outside the trip's dates.")]},
            )
        departure_bookable(departure, now)
    trip_leg.options.exclude(departure_id__in=ids).delete()  # their votes go with them
    existing = set(trip_leg.options.values_list("departure_id", flat=True))
    for position, departure_id in enumerate(ids):
        if departure_id in existing:
            trip_leg.options.filter(departure_id=departure_id).update(position=position)
        else:
            PollOption.objects.create(leg=trip_leg, departure_id=departure_id, position=position)
    released = holds_release(
        SeatAllocation.objects.filter(leg=trip_leg, state=AllocationState.HELD).exclude(
            departure_id__in=ids
        )
    )
    return record(
        locked.trip,
        "poll_proposed",
        {"leg": leg, "departure_ids": ids, "released": released},
        actor=by,
    )


@transaction.atomic
def poll_vote(*, trip_id: int, user, leg: str, departure_id: int | None) -> TripEvent:
    """A traveller votes for one of the leg's options (``None`` takes the vote back)."""
    locked = trip_lock(trip_id, user)
    trip_leg = _leg(locked.trip, leg)
    if trip_leg.departure_id is not None:
        raise LegSettled()
    if departure_id is None:
        PollVote.objects.filter(leg=trip_leg, user=user).delete()
    else:
        option = trip_leg.options.filter(departure_id=departure_id).first()
        if option is None:
            raise DepartureNotInPoll()
        PollVote.objects.update_or_create(leg=trip_leg, user=user, defaults={"option": option})
    return record(
        locked.trip,
        "vote_cast",
        {"leg": leg, "user_id": user.pk, "departure_id": departure_id},
        actor=user,
    )


@transaction.atomic
def poll_settle(*, trip_id: int, by, leg: str, departure_id: int) -> TripEvent:
    """The organiser chooses the leg's departure among the options; holds on the other
    options are released in the same transaction."""
    locked = trip_lock(trip_id, by, organiser=True)
    trip_leg = _leg(locked.trip, leg)
    if trip_leg.departure_id is not None:
        raise LegSettled()
    option = trip_leg.options.select_related("departure").filter(departure_id=departure_id).first()
    if option is None:
        raise DepartureNotInPoll()
    departure_bookable(option.departure, timezone.now())
    trip_leg.departure_id = departure_id
    trip_leg.settled_at = timezone.now()
    trip_leg.save(update_fields=["departure", "settled_at"])
    released = holds_release(
        SeatAllocation.objects.filter(leg=trip_leg, state=AllocationState.HELD).exclude(
            departure_id=departure_id
        )
    )
    message_queue(
        kind="booking.train_chosen",
        object_id=trip_leg.pk,
        recipient_ids=Membership.objects.filter(
            group_id=locked.trip.group_id, status=Membership.Status.ACTIVE
        ).values_list("user_id", flat=True),
        trip_id=locked.trip.pk,
    )
    return record(
        locked.trip,
        "poll_settled",
        {"leg": leg, "departure_id": departure_id, "released": released},
        actor=by,
    )


# --- Fares ----------------------------------------------------------------------------------


def _quote_departure(trip_leg: TripLeg) -> Departure | None:
    if trip_leg.departure_id is not None:
        return trip_leg.departure
    option = trip_leg.options.select_related("departure").order_by("position").first()
    return option.departure if option else None


@transaction.atomic
def fare_choose(
    *,
    trip_id: int,
    user,
    leg: str,
    fare_class_code: str,
    passenger_type_code: str = "adult",
    age: int | None = None,
    card_code: str = "",
    card_number: str = "",
) -> TripEvent:
    """A traveller's own fare, passenger type and discount card for a leg, checked for
    eligibility (age, card number). A held seat of another comfort class is released."""
    locked = trip_lock(trip_id, user)
    trip_leg = _leg(locked.trip, leg)
    fare_class = FareClass.objects.filter(code=fare_class_code).first()
    if fare_class is None:
        raise InvalidInput(_("Unknown fare."), fields={"fare_class": [_("Unknown.")]})
    passenger = PassengerType.objects.filter(code=passenger_type_code).first()
    if passenger is None:
        raise InvalidInput(_("Unknown passenger type."), fields={"passenger_type": [_("Unknown.")]})
    card = None
    if card_code:
        card = DiscountCard.objects.filter(code=card_code).first()
        if card is None:
            raise InvalidInput(_("Unknown discount card."), fields={"card": [_("Unknown.")]})
    # Age against the passenger type and the card, the card's number: always.
    number = eligibility_check(passenger=passenger, age=age, card=card, card_number=card_number)
    departure = _quote_departure(trip_leg)
    if departure is not None:
        # The fare must be offered on the leg's train (or its first option); the rest of a
        # price quote's checks are those above.
        price_quote(
            departure=departure,
            fare_class_code=fare_class_code,
            passenger_type_code=passenger_type_code,
            age=age,
            card_code=card_code,
            card_number=card_number,
        )
    TravellerFare.objects.update_or_create(
        leg=trip_leg,
        user=user,
        defaults={
            "fare_class": fare_class,
            "passenger_type": passenger,
            "discount_card": card,
            "card_number": number,
            "age": age,
        },
    )
    released = holds_release(
        SeatAllocation.objects.filter(leg=trip_leg, user=user, state=AllocationState.HELD).exclude(
            seat__comfort_class=fare_class.comfort_class
        )
    )
    payload = {
        "leg": leg,
        "user_id": user.pk,
        "comfort_class": fare_class.comfort_class,
        "released": released,
    }
    if trip_leg.direction == TripLeg.Direction.OUTBOUND and _fare_carry_to_return(
        locked.trip,
        user=user,
        fare_class=fare_class,
        passenger=passenger,
        card=card,
        card_number=number,
        age=age,
    ):
        payload["carried_to"] = TripLeg.Direction.RETURN.value
    return record(locked.trip, "fare_chosen", payload, actor=user)


def _fare_carry_to_return(
    trip: Trip, *, user, fare_class, passenger, card, card_number: str, age: int | None
) -> bool:
    """A return trip's traveller who chooses the outbound fare has the same passenger type,
    age and discount card on the return leg when they have chosen nothing there yet: a
    forgotten return leg does not silently cost them their reduction. The fare class
    follows where the return's train (or its first option) offers it, else the first fare
    of that comfort class it offers. The return leg stays theirs to change. True when
    carried."""
    return_leg = (
        TripLeg.objects.select_for_update(of=("self",))
        .filter(trip=trip, direction=TripLeg.Direction.RETURN)
        .first()
    )
    if return_leg is None or TravellerFare.objects.filter(leg=return_leg, user=user).exists():
        return False
    departure = _quote_departure(return_leg)
    if (
        departure is not None
        and not DepartureFare.objects.filter(departure=departure, fare_class=fare_class).exists()
    ):
        fare_class_id, _passenger = _default_fare(departure.pk, fare_class.comfort_class)
        if fare_class_id is None:
            return False  # no fare of that class on the return's train: they choose there
        fare_class = FareClass.objects.get(pk=fare_class_id)
    TravellerFare.objects.create(
        leg=return_leg,
        user=user,
        fare_class=fare_class,
        passenger_type=passenger,
        discount_card=card,
        card_number=card_number,
        age=age,
    )
    return True


# --- Seats ----------------------------------------------------------------------------------


def _hold_expiry(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=_config("HOLD_IDLE_SECONDS"))


def holds_release(
    allocations=None, *, rows: list[dict] | None = None, broadcast: bool = True
) -> list[dict]:
    """Release the given held allocations (a queryset, or ``rows`` already read under
    lock); returns what was released, for the event, and asks for the per-departure
    broadcast (unless ``broadcast`` is False: the caller sends it with its own changes)."""
    if rows is None:
        rows = locking.rows_lock(allocations.values("pk", "departure_id", "seat_id", "user_id"))
    if not rows:
        return []
    SeatAllocation.objects.filter(pk__in=[r["pk"] for r in rows]).update(
        state=AllocationState.RELEASED, updated_at=timezone.now()
    )
    if broadcast:
        for departure_id, seats in seat_changes(rows, "free").items():
            live.after_commit_seats(departure_id, seats)
    return [
        {"departure_id": r["departure_id"], "seat_id": r["seat_id"], "user_id": r["user_id"]}
        for r in rows
    ]


def seat_changes(rows: list[dict], status: str) -> dict[int, dict[int, str]]:
    by_departure: dict[int, dict[int, str]] = {}
    for row in rows:
        by_departure.setdefault(row["departure_id"], {})[row["seat_id"]] = status
    return by_departure


def seats_release(
    *, trip_id: int, allocation_ids: list[int], reason: str, trip_status: str | None = None
) -> TripEvent | None:
    """Release these held seats of the trip for a reason outside the plan (``payments``:
    an unpaid share at the deadline, a cancelled checkout), in the caller's transaction:
    the trip is locked, the holds still live among ``allocation_ids`` are released (the
    departures' watchers see the seats free after commit), the trip moves to
    ``trip_status`` when given, and one ``seats_released`` event tells the trip. Returns
    the event, or None when there was nothing to do (a second call changes nothing)."""
    trip = Trip.objects.select_for_update().get(pk=trip_id)
    released = holds_release(
        SeatAllocation.objects.filter(
            pk__in=list(allocation_ids), leg__trip_id=trip_id, state=AllocationState.HELD
        ).order_by("pk")
    )
    if trip_status is not None and trip.status != trip_status:
        trip.status = trip_status
        trip.save(update_fields=["status", "updated_at"])
    elif not released:
        return None
    return record(trip, "seats_released", {"reason": reason, "released": released})


def free_expired(departure_id: int, seat_ids, now: dt.datetime) -> None:
    """Expired holds on these seats stop occupying them (the worker would, later)."""
    SeatAllocation.objects.filter(
        departure_id=departure_id,
        seat_id__in=seat_ids,
        state=AllocationState.HELD,
        expires_at__lte=now,
    ).update(state=AllocationState.RELEASED, updated_at=now)


def _default_fare(departure_id: int, comfort_class: str) -> tuple[int | None, int | None]:
    """A traveller who picks a seat before choosing a fare gets the first fare of that
    seat's class offered on the train, as an adult without card (they can change it
    after): its fare class and passenger type, None where there is none. The same as
    ``seat_pick_pg``'s read."""
    fare_class_id = (
        DepartureFare.objects.filter(
            departure_id=departure_id, fare_class__comfort_class=comfort_class
        )
        .order_by("fare_class__sort_order", "fare_class__code")
        .values_list("fare_class_id", flat=True)
        .first()
    )
    passenger_id = (
        PassengerType.objects.order_by(
            Case(When(code="adult", then=Value(0)), default=Value(1)), "sort_order", "code"
        )
        .values_list("pk", flat=True)
        .first()
    )
    return fare_class_id, passenger_id


def _fare_give(*, leg_id: int, user_id: int, fare: tuple[int, int]) -> None:
    fare_class_id, passenger_id = fare
    TravellerFare.objects.create(
        leg_id=leg_id, user_id=user_id, fare_class_id=fare_class_id, passenger_type_id=passenger_id
    )


def _held_elsewhere(departure_id: int, user_ids, *, leg_id: int, now: dt.datetime) -> dict:
    """Each person's live holds on the departure for other legs than ``leg_id``."""
    return dict(
        SeatAllocation.objects.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            departure_id=departure_id,
            user_id__in=list(user_ids),
            state=AllocationState.HELD,
        )
        .exclude(leg_id=leg_id)
        .values("user_id")
        .annotate(n=Count("pk"))
        .values_list("user_id", "n")
    )


_INSERT_HOLD: dict[str, tuple[str, list]] = {}  # database alias → (statement, its fields)


def _insert_hold_statement(connection) -> tuple[str, list]:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id`` for ``SeatAllocation``, built once
    per database from the model's own meta (quoted identifiers; every value a parameter)."""
    if connection.alias not in _INSERT_HOLD:
        meta = SeatAllocation._meta
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        quote = connection.ops.quote_name
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        columns = ", ".join(quote(f.column) for f in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING {pk}"  # noqa: S608, E501
        _INSERT_HOLD[connection.alias] = (sql, fields)
    return _INSERT_HOLD[connection.alias]


def _insert_unless_taken(allocation: SeatAllocation) -> bool:
    """Insert one allocation unless a live hold or sale already stands on its seat (or
    its traveller already holds a seat on the leg): one statement, no savepoint; the
    partial unique indexes decide (PostgreSQL, and SQLite since 3.35). True when the row
    went in."""
    connection = transaction.get_connection(router.db_for_write(SeatAllocation))
    sql, fields = _insert_hold_statement(connection)
    values = [f.get_db_prep_save(f.pre_save(allocation, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    allocation.pk = row[0]
    allocation._state.adding = False
    allocation._state.db = connection.alias
    return True


def _insert_holds(rows: list[SeatAllocation]) -> bool:
    """All of ``rows`` or none (a savepoint for several); True when they went in."""
    if len(rows) == 1:
        return _insert_unless_taken(rows[0])
    try:
        with transaction.atomic():
            SeatAllocation.objects.bulk_create(rows)
    except IntegrityError:
        for row in rows:
            row.pk = None
            row._state.adding = True
        return False
    return True


def hold_seats(
    *,
    leg_id: int,
    departure_id: int,
    picks: dict[int, int],
    now: dt.datetime,
    previous: list[dict] | None = None,
) -> list[dict]:
    """Hold ``picks`` (user id → seat id) on the departure for the leg: each user's
    previous hold on the leg is released first (``previous``: those rows, when the caller
    has read them under the trip's lock already). All or nothing: one seat taken →
    ``SeatTaken`` and every pick is rolled back. The departure's watchers get one message
    with the seats freed and taken, after commit."""
    if previous is None:
        released = holds_release(
            SeatAllocation.objects.filter(
                leg_id=leg_id, user_id__in=list(picks), state=AllocationState.HELD
            ),
            broadcast=False,
        )
    else:
        released = holds_release(rows=previous, broadcast=False)
    expires_at = _hold_expiry(now)
    rows = [
        SeatAllocation(
            departure_id=departure_id,
            seat_id=seat_id,
            state=AllocationState.HELD,
            expires_at=expires_at,
            leg_id=leg_id,
            user_id=user_id,
        )
        for user_id, seat_id in picks.items()
    ]
    if not _insert_holds(rows):
        # Maybe only holds whose time is up stand in the way (the worker has not released
        # them yet): release those and try once more; a live hold or a sale still wins.
        free_expired(departure_id, list(picks.values()), now)
        if not _insert_holds(rows):
            raise SeatTaken()
    changes = seat_changes(released, "free")
    changes.setdefault(departure_id, {}).update(dict.fromkeys(picks.values(), "held"))
    for changed, seats in changes.items():
        live.after_commit_seats(changed, seats)
    return released


def _leg_departure(trip_leg: TripLeg, departure_id: int | None) -> Departure:
    if trip_leg.departure_id is not None:
        check_settled_choice(trip_leg.departure_id, departure_id)
        return trip_leg.departure
    option = trip_leg.options.select_related("departure").filter(departure_id=departure_id).first()
    if option is None:
        raise DepartureNotInPoll()
    return option.departure


@transaction.atomic
def seat_pick(
    *, trip_id: int, user, leg: str, seat_id: int, departure_id: int | None = None
) -> TripEvent:
    """A traveller holds a seat for themselves on the leg's train (or on one of its
    options before the poll is settled). Their previous seat on the leg is released in
    the same transaction. The rules are one pure decision (``seat_rules.pick_decide``);
    what it needs is read in two statements on PostgreSQL (``booking.seat_pick_pg``),
    through the ORM elsewhere; the writes are the same."""
    now = timezone.now()
    connection = transaction.get_connection(router.db_for_write(Trip))
    if seat_pick_pg.is_available(connection) and user is not None and user.is_authenticated:
        trip, access, facts = seat_pick_pg.read(
            connection=connection,
            trip_id=trip_id,
            user_id=user.pk,
            leg=leg,
            seat_id=seat_id,
            departure_id=departure_id,
            now=now,
        )
        check_access(**access, organiser=False)
    else:
        trip = trip_lock(trip_id, user).trip
        facts = _pick_facts(
            trip, user, leg=leg, seat_id=seat_id, departure_id=departure_id, now=now
        )
    decision = seat_rules.pick_decide(
        facts,
        seat_id=seat_id,
        departure_id=departure_id,
        now=now,
        hold_cap=_config("HOLDS_PER_PERSON_PER_DEPARTURE"),
    )
    if decision.new_fare is not None:
        _fare_give(leg_id=facts.leg_id, user_id=user.pk, fare=decision.new_fare)
    # Picking one's own seat again only refreshes the hold (unless the worker has just
    # released it: then it is taken again like any other).
    refreshed = (
        decision.refresh_id is not None
        and SeatAllocation.objects.filter(
            pk=decision.refresh_id, state=AllocationState.HELD
        ).update(expires_at=_hold_expiry(now), updated_at=now)
        == 1
    )
    released = []
    if not refreshed:
        released = hold_seats(
            leg_id=facts.leg_id,
            departure_id=decision.departure_id,
            picks={user.pk: seat_id},
            now=now,
            previous=[
                {
                    "pk": h.pk,
                    "departure_id": h.departure_id,
                    "seat_id": h.seat_id,
                    "user_id": user.pk,
                }
                for h in decision.release
            ],
        )
    payload = seat_rules.pick_payload(
        leg=leg,
        departure_id=decision.departure_id,
        user_id=user.pk,
        seat_id=seat_id,
        label=facts.seat_label,
        released=released,
    )
    return record(trip, "seat_held", payload, actor=user)


def _pick_facts(
    trip: Trip, user, *, leg: str, seat_id: int, departure_id: int | None, now: dt.datetime
) -> PickFacts:
    """What ``seat_rules.pick_decide`` needs, read through the ORM under the trip's lock
    (what ``seat_pick_pg`` reads in one statement). Stops reading where a fact is missing:
    the decision refuses there first."""
    trip_leg = (
        TripLeg.objects.select_for_update(of=("self",))
        .select_related("departure")
        .filter(trip=trip, direction=leg)
        .first()
    )
    if trip_leg is None:
        return PickFacts()
    option_id, departure = None, trip_leg.departure
    if departure is None:
        option = (
            trip_leg.options.select_related("departure").filter(departure_id=departure_id).first()
        )
        if option is None:
            return PickFacts(leg_id=trip_leg.pk)
        option_id, departure = option.departure_id, option.departure
    known = {
        "leg_id": trip_leg.pk,
        "settled_departure_id": trip_leg.departure_id,
        "option_departure_id": option_id,
        "departure_status": departure.status,
        "departs_at": departure.departs_at,
    }
    seat = (
        Seat.objects.select_related("coach")
        .filter(pk=seat_id, coach__vehicle_id=departure.vehicle_id)
        .first()
    )
    if seat is None:
        return PickFacts(**known)
    fare_class = (
        TravellerFare.objects.filter(leg=trip_leg, user=user)
        .values_list("fare_class__comfort_class", flat=True)
        .first()
    )
    default_fare = (None, None)
    if fare_class is None:
        default_fare = _default_fare(departure.pk, seat.comfort_class)
    holds = (
        SeatAllocation.objects.select_for_update()
        .filter(leg=trip_leg, user=user, state=AllocationState.HELD)
        .order_by("pk")
        .values_list("pk", "departure_id", "seat_id", "expires_at")
    )
    return PickFacts(
        **known,
        seat_class=seat.comfort_class,
        seat_label=seat.label,
        fare_class=fare_class,
        default_fare_class_id=default_fare[0],
        default_passenger_id=default_fare[1],
        holds=tuple(
            HeldRow(pk, d, s, expires_at is not None and expires_at > now)
            for pk, d, s, expires_at in holds
        ),
        held_elsewhere=_held_elsewhere(departure.pk, [user.pk], leg_id=trip_leg.pk, now=now).get(
            user.pk, 0
        ),
    )


@transaction.atomic
def seat_release(*, trip_id: int, user, leg: str) -> TripEvent:
    """A traveller lets go of their seat on the leg."""
    locked = trip_lock(trip_id, user)
    trip_leg = _leg(locked.trip, leg)
    released = holds_release(
        SeatAllocation.objects.filter(leg=trip_leg, user=user, state=AllocationState.HELD)
    )
    return record(locked.trip, "seat_released", {"leg": leg, "released": released}, actor=user)


# --- Time -----------------------------------------------------------------------------------


def holds_expire(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Release holds whose time is up, and tell their trips. Run by the worker; safe in
    several workers at once and again after a crash (a released hold is not picked
    twice). Returns how many it released (the holds of at most ``limit`` trips).

    Locks in the documented order (``core.locking``): the trips of the due holds first,
    then the holds, as a pick does. A trip someone is changing right now is skipped
    (``skip_locked``) until the next pass: locking the hold first and then waiting for
    its trip deadlocked with a pick that held the trip and released that hold.

    Holds of a trip in checkout are left alone: they belong to the travellers' shares,
    and the payment deadline's policy (``payments.deadlines``) releases or sells them."""
    now = now or timezone.now()
    due = SeatAllocation.objects.filter(state=AllocationState.HELD, expires_at__lte=now)
    with transaction.atomic():
        candidates = due.order_by("expires_at").values_list("leg__trip_id", flat=True)[:limit]
        trips = {
            trip.pk: trip
            for trip in locking.rows_lock(
                Trip.objects.filter(pk__in=set(candidates)).exclude(status=Trip.Status.CHECKOUT),
                skip_locked=True,
            )
        }
        rows = locking.rows_lock(
            due.filter(Q(leg__trip_id__in=list(trips)) | Q(leg__isnull=True)).values(
                "pk", "leg__trip_id", "leg__direction", "departure_id", "seat_id", "user_id"
            ),
            skip_locked=True,
        )
        if not rows:
            return 0
        SeatAllocation.objects.filter(pk__in=[row["pk"] for row in rows]).update(
            state=AllocationState.RELEASED, updated_at=now
        )
        by_trip: dict[int, list[dict]] = {}
        for row in rows:
            if row["leg__trip_id"] is not None:
                by_trip.setdefault(row["leg__trip_id"], []).append(row)
        for departure_id, seats in seat_changes(rows, "free").items():
            live.after_commit_seats(departure_id, seats)
        # A trip whose group holds no seat any more has lapsed: its members are told once
        # (the message's object is this pass's event), and the page offers to sit them
        # together again (``lapsed`` in the event).
        still_held = set(
            SeatAllocation.objects.filter(
                state=AllocationState.HELD, leg__trip_id__in=list(by_trip)
            ).values_list("leg__trip_id", flat=True)
        )
        for trip_id, released in by_trip.items():
            lapsed = trip_id not in still_held
            event = record(
                trips[trip_id],
                "holds_expired",
                {
                    "released": [
                        {
                            "leg": r["leg__direction"],
                            "departure_id": r["departure_id"],
                            "seat_id": r["seat_id"],
                            "user_id": r["user_id"],
                        }
                        for r in released
                    ],
                    "lapsed": lapsed,
                },
            )
            if lapsed:
                message_queue(
                    kind="booking.holds_lapsed",
                    object_id=event.pk,
                    recipient_ids=Membership.objects.filter(
                        group_id=trips[trip_id].group_id, status=Membership.Status.ACTIVE
                    ).values_list("user_id", flat=True),
                    trip_id=trip_id,
                )
    return len(rows)


def _holds_extend(holds, *, trips, expires_at: dt.datetime, now: dt.datetime) -> int:
    """Extend ``holds`` to ``expires_at``, their trips (``trips``: a queryset) locked
    first as every change of a trip does (``core.locking``); a trip busy right now is
    skipped until the next pass. Returns how many holds it extended."""
    with transaction.atomic():
        trip_ids = locking.ids_lock(
            trips.filter(pk__in=holds.values("leg__trip_id")), skip_locked=True
        )
        return holds.filter(leg__trip_id__in=trip_ids).update(expires_at=expires_at, updated_at=now)


def holds_keep_in_checkout(*, now: dt.datetime | None = None, margin_seconds: int) -> int:
    """Holds of trips in checkout are kept at least ``margin_seconds`` ahead, so their
    seats never look free (reads treat an expired hold as free) before the payment
    deadline's policy has released or sold them. Run by the payments worker before it
    applies the policies. Returns how many holds it extended."""
    now = now or timezone.now()
    margin = dt.timedelta(seconds=margin_seconds)
    holds = SeatAllocation.objects.filter(
        state=AllocationState.HELD,
        expires_at__isnull=False,
        expires_at__lt=now + margin / 2,
        leg__trip__status=Trip.Status.CHECKOUT,
    )
    trips = Trip.objects.filter(status=Trip.Status.CHECKOUT)
    return _holds_extend(holds, trips=trips, expires_at=now + margin, now=now)


def holds_keep_alive(*, now: dt.datetime | None = None) -> int:
    """Holds of trips with somebody on the page are extended before they run out, so
    only a trip with nobody online loses its seats. Returns how many holds it extended."""
    from booking.models import TripPresence

    now = now or timezone.now()
    online_since = now - dt.timedelta(seconds=_config("PRESENCE_TIMEOUT_SECONDS"))
    online_trips = TripPresence.objects.filter(last_seen_at__gte=online_since).values("trip_id")
    idle = dt.timedelta(seconds=_config("HOLD_IDLE_SECONDS"))
    holds = SeatAllocation.objects.filter(
        Q(expires_at__gt=now) & Q(expires_at__lte=now + idle / 2),
        state=AllocationState.HELD,
        leg__trip_id__in=online_trips,
        leg__trip__status=Trip.Status.PLANNING,
    )
    trips = Trip.objects.filter(status=Trip.Status.PLANNING)
    return _holds_extend(holds, trips=trips, expires_at=now + idle, now=now)


# --- "Sit us together" ------------------------------------------------------------------------


@transaction.atomic
def sit_together(*, trip_id: int, user, leg: str, departure_id: int | None = None) -> TripEvent:
    """Seat every traveller of the trip who has no seat on the leg yet, together: the best
    block (``booking.seating``) within each one's comfort class, taken at once and told in
    one event. When no block fits, ``NoBlockFits`` proposes the best split, and nothing is
    taken. Any traveller may ask (they seat their friends, who can still move after)."""
    from booking.seating import TIERS, FreeSeat, best_block, best_split, near_block

    locked = trip_lock(trip_id, user)
    trip_leg = _leg(locked.trip, leg, with_departure=True)
    departure = _leg_departure(trip_leg, departure_id)
    now = timezone.now()
    departure_bookable(departure, now)
    members = list(
        Membership.objects.filter(group_id=locked.trip.group_id, status=Membership.Status.ACTIVE)
        .select_related("user")
        .order_by("joined_at", "pk")
    )
    # The group's seats on this train: those seated are skipped, and the others sit next
    # to them first (a friend who joined late).
    group_seats = list(
        SeatAllocation.objects.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            leg=trip_leg,
            departure=departure,
            state__in=[AllocationState.HELD, AllocationState.SOLD],
        ).select_related("seat__coach")
    )
    seated = {a.user_id for a in group_seats}
    fares = {
        f.user_id: f.fare_class.comfort_class
        for f in TravellerFare.objects.filter(leg=trip_leg).select_related("fare_class")
    }
    # Those without a fare sit in the class most of the group chose (second by default).
    chosen = [fares[m.user_id] for m in members if m.user_id in fares]
    default_class = max(
        ["second", "first"], key=lambda comfort: (chosen.count(comfort), comfort == "second")
    )
    waiting: dict[str, list] = defaultdict(list)
    for membership in members:
        if membership.user_id not in seated:
            waiting[fares.get(membership.user_id, default_class)].append(membership.user)
    if not waiting:
        raise NoBlockFits(_("Everyone already has a seat on this train."), code="everyone_seated")
    # Each traveller seated here gets one hold: within their cap on this train, and a fare
    # of their seat's class offered on it when they have none yet (as a pick of their own).
    people = [person for group in waiting.values() for person in group]
    elsewhere = _held_elsewhere(departure.pk, [p.pk for p in people], leg_id=trip_leg.pk, now=now)
    cap = _config("HOLDS_PER_PERSON_PER_DEPARTURE")
    for person in people:
        if not seat_rules.within_hold_cap(elsewhere.get(person.pk, 0), cap):
            name = None if person.pk == user.pk else user_display_name(user=person)
            raise seat_rules.too_many_holds(name)
    default_fares = {
        comfort_class: seat_rules.default_fare_check(*_default_fare(departure.pk, comfort_class))
        for comfort_class, group in waiting.items()
        if any(person.pk not in fares for person in group)
    }

    taken = SeatAllocation.objects.filter(
        Q(state=AllocationState.SOLD)
        | Q(state=AllocationState.HELD, expires_at__isnull=True)
        | Q(state=AllocationState.HELD, expires_at__gt=now),
        departure=departure,
    ).values("seat_id")
    seats = list(
        Seat.objects.filter(coach__vehicle_id=departure.vehicle_id, comfort_class__in=waiting)
        .exclude(pk__in=taken)
        .select_related("coach")
    )
    links = SeatNeighbour.objects.filter(seat__in=[s.pk for s in seats]).values_list(
        "seat_id", "neighbour_id", "kind"
    )
    side, facing = defaultdict(set), defaultdict(set)
    for seat_id, neighbour_id, kind in links:
        # Both ways: a free seat's link to a friend's seat is the friend's link too.
        edges = side if kind == NeighbourKind.SIDE_BY_SIDE else facing
        edges[seat_id].add(neighbour_id)
        edges[neighbour_id].add(seat_id)
    by_id = {s.pk: s for s in seats}

    def free_seat(s: Seat) -> FreeSeat:
        return FreeSeat(s.pk, s.coach.number, s.deck, s.row, s.column, s.table_group)

    picks, tiers, proposal, near = {}, [], {}, []
    for comfort_class, people in sorted(waiting.items()):
        free = [free_seat(s) for s in seats if s.comfort_class == comfort_class]
        anchors = [free_seat(a.seat) for a in group_seats if a.seat.comfort_class == comfort_class]
        block = near_block(free, len(people), anchors, side=side, facing=facing)
        if anchors:
            near.append(block is not None)
        if block is None:
            block = best_block(free, len(people), side=side, facing=facing)
        if block is None:
            proposal[comfort_class] = [
                [by_id[i].label for i in group] for group in best_split(free, len(people))
            ]
            continue
        tiers.append(block.tier)
        for person, seat_id in zip(people, block.seat_ids, strict=True):
            picks[person] = by_id[seat_id]
    if proposal:
        raise NoBlockFits(
            _(
                "There is no block of free seats for all of you together on this train. "
                "The closest: %(split)s."
            )
            % {
                "split": "; ".join(
                    ", ".join(group) for groups in proposal.values() for group in groups
                )
            },
            fields={
                "split": [", ".join(group) for groups in proposal.values() for group in groups]
            },
        )
    hold_seats(
        leg_id=trip_leg.pk,
        departure_id=departure.pk,
        picks={person.pk: seat.pk for person, seat in picks.items()},
        now=now,
    )
    for person, seat in picks.items():
        if person.pk not in fares:
            _fare_give(
                leg_id=trip_leg.pk, user_id=person.pk, fare=default_fares[seat.comfort_class]
            )
    worst = max(tiers, key=TIERS.index)
    return record(
        locked.trip,
        "seated_together",
        {
            "leg": leg,
            "departure_id": departure.pk,
            "tier": worst,
            # Whether they joined the friends already seated (None: nobody was).
            "with_group": all(near) if near else None,
            "holds": [
                {"user_id": person.pk, "seat_id": seat.pk, "label": seat.label}
                for person, seat in picks.items()
            ],
            "released": [],
        },
        actor=user,
    )
