"""What ``plan.seat_pick`` reads, on PostgreSQL in two statements instead of about seven.

A seat pick is the live plan's hottest write: at 100 picks a second one Daphne process
spent most of its Python time building the ORM's SQL for them (bench/live_fanout.py,
bench/pick_profile.py). On PostgreSQL the reads are hand-written SQL built once per
database:

1. the trip's row is locked (``SELECT … FOR UPDATE``), which gives its version;
2. one ``SELECT`` reads everything the rules need (``booking.seat_rules.PickFacts``): the
   caller's membership, the leg, the departure (the settled one, or the poll's option),
   the seat with its coach, the caller's fare or the default one, their holds on the leg
   and their live holds on the departure for other trips.

The rules (``seat_rules.pick_decide``) and the writes (``plan.seat_pick``, ``plan.record``)
are the ORM path's: only the reading differs. The suite runs every seat test against both
(SQLite takes the ORM path, PostgreSQL this one).

Locks: the trip row, as every write of the plan takes first (``plan.trip_lock``): it
orders all writes of one trip, so neither the leg nor the caller's holds are locked again
(the worker expiring holds locks a hold's trip first, and skips it when busy).
"""

from booking.errors import TripNotFound
from booking.models import (
    AllocationState,
    Coach,
    Departure,
    DepartureFare,
    FareClass,
    PassengerType,
    PollOption,
    Seat,
    SeatAllocation,
    TravellerFare,
    Trip,
    TripLeg,
)
from booking.seat_rules import HeldRow, PickFacts
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
    fare_class, allocation, offered = _t(FareClass), _t(SeatAllocation), _t(DepartureFare)
    passenger = _t(PassengerType)
    held = AllocationState.HELD.value
    read = f"""
        SELECT t.status, m.role, m.status, l.id, l.departure_id, o.departure_id,
               d.status, d.departs_at, s.comfort_class, s.number, c.number,
               fc.comfort_class,
               CASE WHEN f.id IS NULL THEN (
                   SELECT dfc.id FROM {offered} df
                   JOIN {fare_class} dfc ON dfc.id = df.fare_class_id
                   WHERE df.departure_id = d.id AND dfc.comfort_class = s.comfort_class
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
               ),
               (
                   SELECT count(*) FROM {allocation} x
                   WHERE x.departure_id = d.id AND x.user_id = %(user)s
                     AND x.state = '{held}' AND x.leg_id <> l.id
                     AND (x.expires_at IS NULL OR x.expires_at > %(now)s)
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
    lock = f"SELECT version FROM {trip} WHERE id = %(trip)s FOR UPDATE"  # noqa: S608
    _STATEMENTS[connection.alias] = {"lock": lock, "read": read}
    return _STATEMENTS[connection.alias]


def read(
    *, connection, trip_id: int, user_id: int, leg: str, seat_id: int, departure_id, now
) -> tuple[Trip, dict, PickFacts]:
    """Lock the trip and read the pick's facts, inside the caller's transaction. Returns
    the locked trip (its id and version, for ``plan.record``), the caller's access (the
    arguments of ``plan.check_access`` but ``organiser``) and the facts."""
    sql = _statements(connection)
    params = {
        "trip": trip_id,
        "user": user_id,
        "leg": leg,
        "departure": departure_id,
        "seat": seat_id,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql["lock"], params)
        locked = cursor.fetchone()
        if locked is None:
            raise TripNotFound()
        cursor.execute(sql["read"], params)
        (
            trip_status,
            member_role,
            member_status,
            leg_id,
            settled_id,
            option_id,
            departure_status,
            departs_at,
            seat_class,
            seat_number,
            coach_number,
            fare_class,
            default_fare_class,
            default_passenger,
            holds,
            held_elsewhere,
        ) = cursor.fetchone()
    on_train = coach_number is not None
    facts = PickFacts(
        leg_id=leg_id,
        settled_departure_id=settled_id,
        option_departure_id=option_id,
        departure_status=departure_status,
        departs_at=departs_at,
        seat_class=seat_class if on_train else None,
        seat_label=Seat(number=seat_number, coach=Coach(number=coach_number)).label
        if on_train
        else "",
        fare_class=fare_class,
        default_fare_class_id=default_fare_class,
        default_passenger_id=default_passenger,
        holds=tuple(HeldRow(pk, d, s, live == 1) for pk, d, s, live in holds),
        held_elsewhere=held_elsewhere,
    )
    access = {
        "trip_status": trip_status,
        "member_role": member_role,
        "member_status": member_status,
    }
    return Trip(pk=trip_id, version=locked[0]), access, facts


def is_available(connection) -> bool:
    """These statements are written for PostgreSQL (``FOR UPDATE``, arrays)."""
    return connection.vendor == "postgresql"
