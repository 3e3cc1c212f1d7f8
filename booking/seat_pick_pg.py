"""``plan.seat_pick`` on PostgreSQL in four statements instead of about eleven.

A seat pick is the live plan's hottest write: at 100 picks a second one Daphne process
spent most of its Python time building the ORM's SQL for them (bench/live_fanout.py,
bench/pick_profile.py). This is the same service, the same rules, the same errors and
the same event, in hand-written SQL built once per database:

1. the trip's row is locked (``SELECT … FOR UPDATE``), then one ``SELECT`` reads
   everything the rules need: the caller's membership, the leg, the departure (the
   settled one, or the poll's option), the seat with its coach, the caller's fare and
   current holds;
2. the caller's previous hold on the leg is released (``UPDATE … RETURNING``), unless
   they picked the seat they already hold, which only refreshes it;
3. one statement inserts the hold unless the seat is taken (``ON CONFLICT DO NOTHING``,
   the partial unique indexes decide), and only if it went in, bumps the trip's version
   and appends the event.

Whenever a case is not the common one (an anonymous caller, a catalogue with no fare
for the seat's class, a hold released by the worker while being refreshed), ``pick``
returns None before writing anything of its own, and ``plan.seat_pick`` goes on with the
ORM path under the same lock: there is one set of rules, and the suite runs every seat
test against both paths (SQLite takes the ORM path, PostgreSQL this one).

Locks: the trip row, as every write of the plan takes first (``plan.trip_lock``): it
orders all writes of one trip, so the leg need not be locked again; the caller's holds
are locked by the ``UPDATE`` that releases them (the worker expiring holds waits on them
or skips them).
"""

import datetime as dt
import json

from booking import live
from booking.errors import (
    DepartureNotInPoll,
    LegNotFound,
    SeatNotOnThisTrain,
    SeatTaken,
    TripNotFound,
    WrongComfortClass,
)
from booking.models import (
    AllocationState,
    Coach,
    Departure,
    FareClass,
    PassengerType,
    PollOption,
    Seat,
    SeatAllocation,
    TravellerFare,
    Trip,
    TripEvent,
    TripLeg,
)
from groups.models import Membership

_STATEMENTS: dict[str, dict[str, str]] = {}  # database alias → name → SQL


def _t(model) -> str:
    return model._meta.db_table


def _statements(connection) -> dict[str, str]:
    """The statements, with the tables' names from the models (built once)."""
    if connection.alias in _STATEMENTS:
        return _STATEMENTS[connection.alias]
    trip, member, leg, option = _t(Trip), _t(Membership), _t(TripLeg), _t(PollOption)
    departure, seat, coach, fare = _t(Departure), _t(Seat), _t(Coach), _t(TravellerFare)
    fare_class, allocation, event = _t(FareClass), _t(SeatAllocation), _t(TripEvent)
    passenger = _t(PassengerType)
    held = AllocationState.HELD.value
    read = f"""
        SELECT t.status, m.role, m.status, l.id, l.departure_id, o.departure_id,
               d.status, d.departs_at, d.vehicle_id, s.id, s.number, s.comfort_class,
               c.id, c.number, f.id, fc.comfort_class,
               CASE WHEN f.id IS NULL THEN (
                   SELECT dfc.id FROM {fare_class} dfc WHERE dfc.comfort_class = s.comfort_class
                   ORDER BY dfc.sort_order, dfc.code LIMIT 1
               ) END,
               CASE WHEN f.id IS NULL THEN (
                   SELECT dpt.id FROM {passenger} dpt
                   ORDER BY dpt.code = 'adult' DESC, dpt.sort_order, dpt.code LIMIT 1
               ) END,
               ARRAY(
                   SELECT ARRAY[a.id, a.departure_id, a.seat_id,
                                (a.expires_at > %(now)s)::int]
                   FROM {allocation} a
                   WHERE a.leg_id = l.id AND a.user_id = %(user)s AND a.state = '{held}'
                   ORDER BY a.id
               )
        FROM {trip} t
        LEFT JOIN {member} m ON m.group_id = t.group_id AND m.user_id = %(user)s
        LEFT JOIN {leg} l ON l.trip_id = t.id AND l.direction = %(leg)s
        LEFT JOIN {option} o
               ON o.leg_id = l.id AND l.departure_id IS NULL AND o.departure_id = %(departure)s
        LEFT JOIN {departure} d ON d.id = COALESCE(l.departure_id, o.departure_id)
        LEFT JOIN {seat} s ON s.id = %(seat)s
        LEFT JOIN {coach} c ON c.id = s.coach_id AND c.vehicle_id = d.vehicle_id
        LEFT JOIN {fare} f ON f.leg_id = l.id AND f.user_id = %(user)s
        LEFT JOIN {fare_class} fc ON fc.id = f.fare_class_id
        WHERE t.id = %(trip)s
    """  # noqa: S608 - table names from the models, every value a parameter
    # The lock is a statement of its own: a statement that waits for a row lock reads the
    # other tables as they were when it began (READ COMMITTED re-reads only the locked
    # row), so a read joined to the lock could miss what the previous holder of the lock
    # had just committed (a fare, a hold).
    lock = f"SELECT id FROM {trip} WHERE id = %(trip)s FOR UPDATE"  # noqa: S608
    release = f"""
        UPDATE {allocation} SET state = 'released', updated_at = %(now)s
        WHERE leg_id = %(leg_id)s AND user_id = %(user)s AND state = '{held}'
        RETURNING id, departure_id, seat_id
    """  # noqa: S608
    refresh = f"""
        UPDATE {allocation} SET expires_at = %(expires_at)s, updated_at = %(now)s
        WHERE id = %(id)s AND state = '{held}'
        RETURNING id
    """  # noqa: S608
    hold = f"""
        WITH taken AS (
            INSERT INTO {allocation}
                (departure_id, seat_id, state, expires_at, leg_id, user_id,
                 created_at, updated_at)
            VALUES (%(departure)s, %(seat)s, '{held}', %(expires_at)s, %(leg_id)s, %(user)s,
                    %(now)s, %(now)s)
            ON CONFLICT DO NOTHING
            RETURNING id
        ), bumped AS (
            UPDATE {trip} SET version = version + 1, updated_at = %(now)s
            WHERE id = %(trip)s AND EXISTS (SELECT 1 FROM taken)
            RETURNING version
        ), logged AS (
            INSERT INTO {event} (trip_id, version, kind, payload, actor_id, created_at)
            SELECT %(trip)s, bumped.version, 'seat_held', %(payload)s::jsonb, %(user)s, %(now)s
            FROM bumped
            RETURNING id, version
        )
        SELECT logged.id, logged.version FROM logged
    """  # noqa: S608
    bump = f"""
        WITH bumped AS (
            UPDATE {trip} SET version = version + 1, updated_at = %(now)s
            WHERE id = %(trip)s
            RETURNING version
        )
        INSERT INTO {event} (trip_id, version, kind, payload, actor_id, created_at)
        SELECT %(trip)s, bumped.version, 'seat_held', %(payload)s::jsonb, %(user)s, %(now)s
        FROM bumped
        RETURNING id, version
    """  # noqa: S608
    # The traveller's default fare (``plan._default_fare``): no card, no age.
    fare_insert = f"""
        INSERT INTO {fare}
            (leg_id, user_id, fare_class_id, passenger_type_id, discount_card_id,
             card_number, age, updated_at)
        VALUES (%(leg_id)s, %(user)s, %(fare_class)s, %(passenger)s, NULL, '', NULL, %(now)s)
    """  # noqa: S608
    _STATEMENTS[connection.alias] = {
        "fare": fare_insert,
        "lock": lock,
        "read": read,
        "release": release,
        "refresh": refresh,
        "hold": hold,
        "bump": bump,
    }
    return _STATEMENTS[connection.alias]


def pick(
    *,
    connection,
    trip_id: int,
    user,
    leg: str,
    seat_id: int,
    departure_id: int | None,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> TripEvent | None:
    """The pick, inside the caller's transaction; None when the ORM path must do it."""
    from booking import plan  # the rules shared with the ORM path

    if user is None or not user.is_authenticated:
        return None
    sql = _statements(connection)
    params = {
        "trip": trip_id,
        "user": user.pk,
        "leg": leg,
        "departure": departure_id,
        "seat": seat_id,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql["lock"], params)
        if cursor.fetchone() is None:
            raise TripNotFound()
        cursor.execute(sql["read"], params)
        row = cursor.fetchone()
        (
            trip_status,
            member_role,
            member_status,
            leg_id,
            settled_id,
            option_id,
            departure_status,
            departs_at,
            vehicle_id,
            found_seat,
            seat_number,
            seat_class,
            coach_id,
            coach_number,
            fare_id,
            fare_class,
            default_fare_class,
            default_passenger,
            holds,
        ) = row
        plan.check_access(
            trip_status=trip_status,
            member_role=member_role,
            member_status=member_status,
            organiser=False,
        )
        if leg_id is None:
            raise LegNotFound()
        if settled_id is not None:
            plan.check_settled_choice(settled_id, departure_id)
            chosen = settled_id
        elif option_id is None:
            raise DepartureNotInPoll()
        else:
            chosen = option_id
        plan.departure_bookable(
            Departure(pk=chosen, status=departure_status, departs_at=departs_at), now
        )
        if found_seat is None or coach_id is None:
            raise SeatNotOnThisTrain()
        if fare_id is None:
            # A traveller who picks a seat before choosing a fare gets the first fare of
            # that seat's class as an adult without card (as ``plan._default_fare``).
            if default_fare_class is None or default_passenger is None:
                return None  # a catalogue without such a fare: the ORM path says so
            cursor.execute(
                sql["fare"],
                {
                    **params,
                    "leg_id": leg_id,
                    "fare_class": default_fare_class,
                    "passenger": default_passenger,
                },
            )
        elif fare_class != seat_class:
            raise WrongComfortClass()
        seat = Seat(pk=found_seat, number=seat_number, comfort_class=seat_class)
        seat.coach = Coach(number=coach_number, vehicle_id=vehicle_id)
        base = {**params, "leg_id": leg_id, "departure": chosen, "expires_at": expires_at}
        same = next((h for h in holds if (h[1], h[2]) == (chosen, found_seat) and h[3] == 1), None)
        released: list[dict] = []
        if same is not None:
            # Picking one's own seat again only refreshes the hold.
            cursor.execute(sql["refresh"], {**base, "id": same[0]})
            if cursor.fetchone() is None:
                return None  # released meanwhile by the worker: the ORM path
        elif holds:
            cursor.execute(sql["release"], base)
            released = [
                {"departure_id": d, "seat_id": s, "user_id": user.pk}
                for _pk, d, s in cursor.fetchall()
            ]
        payload = {
            "leg": leg,
            "departure_id": chosen,
            "holds": [{"user_id": user.pk, "seat_id": found_seat, "label": plan.seat_label(seat)}],
            "released": [
                r for r in released if r["seat_id"] != found_seat or r["departure_id"] != chosen
            ],
        }
        base["payload"] = json.dumps(payload)
        if same is not None:
            cursor.execute(sql["bump"], base)
            logged = cursor.fetchone()
        else:
            cursor.execute(sql["hold"], base)
            logged = cursor.fetchone()
            if logged is None:
                # Taken. Maybe only by a hold whose time is up (the worker has not
                # released it yet): release such holds and try once more.
                plan.free_expired(chosen, [found_seat], now)
                cursor.execute(sql["hold"], base)
                logged = cursor.fetchone()
                if logged is None:
                    raise SeatTaken()
    event = TripEvent(
        pk=logged[0],
        trip_id=trip_id,
        version=logged[1],
        kind="seat_held",
        payload=payload,
        actor_id=user.pk,
        created_at=now,
    )
    live.after_commit_trip_event(event)
    if same is None:
        changes = plan.seat_changes(released, "free")
        changes.setdefault(chosen, {})[found_seat] = "held"
        for changed_departure, seats in changes.items():
            live.after_commit_seats(changed_departure, seats)
    return event


def is_available(connection) -> bool:
    """This path is written for PostgreSQL (``FOR UPDATE OF``, writes inside ``WITH``)."""
    return connection.vendor == "postgresql"
