"""The rules of a seat pick, as one pure decision: ``pick_decide`` takes plain values
(``PickFacts``) and says what to write, or raises the domain error. Both ways of reading
those values call it: the ORM path (``plan.seat_pick``, every database) and one
``SELECT`` on PostgreSQL (``booking.seat_pick_pg``). They differ only in how they read;
``plan.seat_pick`` then writes the same rows through the same helpers and the event
through ``plan.record``.

Nothing here touches the database, the clock or the settings: a caller passes ``now``
and the cap on holds. It imports only the errors and the models' choices, so any module may use it.
"""

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from django.utils.translation import gettext as _

from booking.errors import (
    DepartureNotBookable,
    DepartureNotInPoll,
    FareNotOffered,
    LegNotFound,
    LegSettled,
    SeatNotOnThisTrain,
    TooManyHolds,
    WrongComfortClass,
)
from booking.models import Departure


class HeldRow(NamedTuple):
    """One of the traveller's held allocations on the leg (``live``: its time not up)."""

    pk: int
    departure_id: int
    seat_id: int
    live: bool


@dataclass(frozen=True)
class PickFacts:
    """What the rules need, read under the trip's lock. ``None`` where there is nothing:
    no such leg, no option of that departure, no such seat on the train, no fare yet."""

    leg_id: int | None = None
    settled_departure_id: int | None = None
    option_departure_id: int | None = None  # the asked-for departure, if one of the options
    departure_status: str | None = None
    departs_at: dt.datetime | None = None
    seat_class: str | None = None  # the seat's comfort class; None: not on this train
    seat_label: str = ""
    fare_class: str | None = None  # the comfort class of the traveller's fare on the leg
    # The fare a first pick gives: the first fare of the seat's class offered on the
    # departure, for the default passenger type (adult). None: none offered.
    default_fare_class_id: int | None = None
    default_passenger_id: int | None = None
    holds: tuple[HeldRow, ...] = ()
    held_elsewhere: int = 0  # the traveller's live holds on the departure, other legs


@dataclass(frozen=True)
class PickDecision:
    departure_id: int
    new_fare: tuple[int, int] | None  # (fare class id, passenger type id) to give
    refresh_id: int | None  # the traveller's live hold on this very seat: refresh it only
    release: tuple[HeldRow, ...]  # their holds on the leg to release before the new one


def bookable_check(status: str, departs_at: dt.datetime, now: dt.datetime) -> None:
    """Raise ``DepartureNotBookable`` for a train that is cancelled or has left."""
    if status != Departure.Status.SCHEDULED:
        raise DepartureNotBookable(_("This train is cancelled."))
    if departs_at <= now:
        raise DepartureNotBookable(_("This train has already left."))


def check_settled_choice(settled_id: int, departure_id: int | None) -> None:
    """A seat is picked on the leg's chosen train once the poll is settled."""
    if departure_id not in (None, settled_id):
        raise LegSettled(_("The train for this leg is chosen: pick a seat on it."))


def within_hold_cap(held_elsewhere: int, cap: int) -> bool:
    """A person holds at most ``cap`` seats of one departure at once, over all their trips
    (a hold for this leg included): one account cannot empty a train by creating trips."""
    return held_elsewhere < cap


def too_many_holds(name: str | None = None) -> TooManyHolds:
    """The refusal past the cap; ``name``: whose holds, when someone else asked for them
    (``plan.sit_together`` seats the whole group)."""
    if name is None:
        return TooManyHolds()
    return TooManyHolds(
        _(
            "%(name)s already holds as many seats on this train as one person may, "
            "for other trips. They can let one go first."
        )
        % {"name": name}
    )


def default_fare_check(fare_class_id: int | None, passenger_id: int | None) -> tuple[int, int]:
    """The fare a traveller without one gets with their seat, or ``FareNotOffered`` when
    the departure offers no fare of the seat's class."""
    if fare_class_id is None or passenger_id is None:
        raise FareNotOffered(_("No fare of this seat's class is offered on this train."))
    return fare_class_id, passenger_id


def pick_decide(
    facts: PickFacts, *, seat_id: int, departure_id: int | None, now: dt.datetime, hold_cap: int
) -> PickDecision:
    """The decision of a pick by an active traveller (access is checked with the lock):
    which departure, whether a default fare is given, whether the pick only refreshes
    the hold the traveller already has on that seat, which holds of theirs it releases.
    Raises the first rule broken, in this order: leg, train, seat, fare, cap."""
    if facts.leg_id is None:
        raise LegNotFound()
    if facts.settled_departure_id is not None:
        check_settled_choice(facts.settled_departure_id, departure_id)
        chosen = facts.settled_departure_id
    elif facts.option_departure_id is None:
        raise DepartureNotInPoll()
    else:
        chosen = facts.option_departure_id
    bookable_check(facts.departure_status, facts.departs_at, now)
    if facts.seat_class is None:
        raise SeatNotOnThisTrain()
    new_fare = None
    if facts.fare_class is None:
        new_fare = default_fare_check(facts.default_fare_class_id, facts.default_passenger_id)
    elif facts.fare_class != facts.seat_class:
        raise WrongComfortClass()
    if not within_hold_cap(facts.held_elsewhere, hold_cap):
        raise too_many_holds()
    return PickDecision(
        departure_id=chosen,
        new_fare=new_fare,
        refresh_id=next(
            (
                h.pk
                for h in facts.holds
                if (h.departure_id, h.seat_id) == (chosen, seat_id) and h.live
            ),
            None,
        ),
        release=facts.holds,
    )


def pick_payload(
    *, leg: str, departure_id: int, user_id: int, seat_id: int, label: str, released: list[dict]
) -> dict:
    """The ``seat_held`` event of a pick: the new hold, and the holds it released (the
    seat itself left out when the pick re-took it)."""
    return {
        "leg": leg,
        "departure_id": departure_id,
        "holds": [{"user_id": user_id, "seat_id": seat_id, "label": label}],
        "released": [
            r for r in released if r["seat_id"] != seat_id or r["departure_id"] != departure_id
        ],
    }
