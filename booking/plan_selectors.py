"""Reads of the live plan: the snapshot a member's page starts from, and the events a
reconnecting client missed. The snapshot costs a fixed number of queries whatever the
group's size and the number of options (asserted in tests/booking/test_plan_snapshot.py).

Privacy: a snapshot is built for one viewer. Everyone's name, avatar, role, presence, votes
and seats are in it; a traveller's fare class, passenger type, card, age and price only for
the traveller themself, or for everyone when they chose to show them.
"""

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db.models import Min
from django.utils import timezone

from booking import pricing
from booking.errors import TripNotFound
from booking.models import (
    AllocationState,
    DepartureFare,
    PollOption,
    PollVote,
    SeatAllocation,
    TravellerFare,
    Trip,
    TripEvent,
    TripLeg,
    TripPresence,
)
from booking.selectors import (
    _buckets_by_fare_class,
    _capacity_by_vehicle,
    _summaries,
    _taken_by_departure,
    live_allocation_q,
)
from groups.errors import GroupNotFound, NotMember
from groups.selectors import group_access, group_members


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def trip_for_member(*, user, trip_id: int) -> Trip:
    """The trip if ``user`` is one of its active travellers; ``TripNotFound`` for anyone
    else (the websocket closes with 4404, the API answers 404)."""
    trip = (
        Trip.objects.select_related("origin", "destination", "event", "group")
        .filter(pk=trip_id)
        .first()
    )
    if trip is None:
        raise TripNotFound()
    try:
        access = group_access(user=user, group_id=trip.group_id)
    except GroupNotFound:
        raise TripNotFound() from None
    if not access.is_member:
        if access.is_pending:
            raise NotMember()
        raise TripNotFound()
    return trip


def online_user_ids(*, trip_id: int, now: dt.datetime | None = None) -> list[int]:
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=settings.SIDEBYSIDE["PRESENCE_TIMEOUT_SECONDS"])
    return sorted(
        set(
            TripPresence.objects.filter(trip_id=trip_id, last_seen_at__gte=since).values_list(
                "user_id", flat=True
            )
        )
    )


def _fare_dict(fare: TravellerFare, *, own: bool) -> dict:
    """A traveller's fare. The card's number (its last four digits) only to its owner:
    "show my card" shows which card, not its number."""
    return {
        "fare_class": fare.fare_class.code,
        "comfort_class": fare.fare_class.comfort_class,
        "passenger_type": fare.passenger_type.code,
        "card": fare.discount_card.code if fare.discount_card_id else None,
        # Only the last four digits ever leave the server.
        "card_number_end": fare.card_number[-4:] if own and fare.card_number else None,
        "age": fare.age,
    }


def traveller_prices(
    fares: list[TravellerFare], departures: list, *, now
) -> dict[tuple[int, int], dict]:
    """(fare id, departure id) → the traveller's price on that departure: the same rules as
    ``price_quote`` (which checks eligibility at choice time), in four queries for all."""
    if not fares or not departures:
        return {}
    capacity = _capacity_by_vehicle({d.vehicle_id for d in departures})
    taken = _taken_by_departure([d.pk for d in departures], now=now)
    buckets = _buckets_by_fare_class()
    base = {
        (f.departure_id, f.fare_class_id): f
        for f in DepartureFare.objects.filter(
            departure__in=departures, fare_class_id__in={f.fare_class_id for f in fares}
        )
    }
    prices = {}
    for fare in fares:
        reductions = [
            (f"passenger:{fare.passenger_type.code}", fare.passenger_type.reduction_percent)
        ]
        if fare.discount_card_id:
            reductions.append(
                (f"card:{fare.discount_card.code}", fare.discount_card.reduction_percent)
            )
        comfort = fare.fare_class.comfort_class
        for departure in departures:
            offered = base.get((departure.pk, fare.fare_class_id))
            if offered is None:
                continue
            quote = pricing.quote(
                base_cents=offered.base_price_cents,
                currency=offered.currency,
                load=pricing.load_percent(
                    taken=taken.get((departure.pk, comfort), 0),
                    capacity=capacity.get((departure.vehicle_id, comfort), 0),
                ),
                buckets=buckets[fare.fare_class_id],
                reductions=reductions,
            )
            prices[(fare.pk, departure.pk)] = {
                "amount_cents": quote.amount_cents,
                "currency": quote.currency,
            }
    return prices


def _price_from(summary) -> dict | None:
    if summary is None or summary.price_from_cents is None:
        return None
    return {"amount_cents": summary.price_from_cents, "currency": summary.currency}


def _departure_dict(departure) -> dict:
    return {
        "id": departure.pk,
        "service_number": departure.service_number,
        "departs_at": _iso(departure.departs_at),
        "arrives_at": _iso(departure.arrives_at),
        "status": departure.status,
    }


def plan_snapshot(*, user, trip_id: int, now: dt.datetime | None = None) -> dict:
    """Everything a member's page needs, as ``viewer`` may see it, with the trip's version."""
    now = now or timezone.now()
    trip = trip_for_member(user=user, trip_id=trip_id)
    members = group_members(group=trip.group, viewer=user)
    visible = {m.user_id for m in members if m.details_visible}
    online = set(online_user_ids(trip_id=trip.pk, now=now))
    legs = list(TripLeg.objects.filter(trip=trip).select_related("departure").order_by("direction"))
    options = list(
        PollOption.objects.filter(leg__trip=trip).select_related("departure").order_by("position")
    )
    votes = list(PollVote.objects.filter(leg__trip=trip).values("leg_id", "option_id", "user_id"))
    holds = list(
        SeatAllocation.objects.filter(live_allocation_q(now=now), leg__trip=trip)
        .select_related("seat__coach")
        .order_by("pk")
    )
    fares = list(
        TravellerFare.objects.filter(leg__trip=trip, user_id__in=visible).select_related(
            "fare_class", "passenger_type", "discount_card"
        )
    )
    departures = {o.departure.pk: o.departure for o in options}
    departures.update({leg.departure.pk: leg.departure for leg in legs if leg.departure_id})
    prices = traveller_prices(fares, list(departures.values()), now=now)
    # Each option's lowest adult price today, as the organiser saw it when proposing
    # ("from 42.90 €"): what a traveller without a fare of their own is shown.
    lowest = {s.departure.pk: s for s in _summaries([o.departure for o in options], now=now)}

    options_by_leg = defaultdict(list)
    for option in options:
        options_by_leg[option.leg_id].append(option)
    votes_by_option = defaultdict(list)
    for vote in votes:
        votes_by_option[vote["option_id"]].append(vote["user_id"])
    fares_by_leg = defaultdict(dict)
    for fare in fares:
        fares_by_leg[fare.leg_id][fare.user_id] = fare
    holds_by_leg = defaultdict(list)
    for hold in holds:
        holds_by_leg[hold.leg_id].append(hold)

    leg_views = []
    for leg in legs:
        leg_fares = fares_by_leg[leg.pk]
        leg_views.append(
            {
                "direction": leg.direction,
                "departure": _departure_dict(leg.departure) if leg.departure_id else None,
                "options": [
                    {
                        "departure": _departure_dict(option.departure),
                        "votes": sorted(votes_by_option[option.pk]),
                        "price_from": _price_from(lowest.get(option.departure_id)),
                        "prices": {
                            str(uid): prices.get((fare.pk, option.departure_id))
                            for uid, fare in leg_fares.items()
                        },
                    }
                    for option in options_by_leg[leg.pk]
                ],
                "seats": [
                    {
                        "user_id": hold.user_id,
                        "departure_id": hold.departure_id,
                        "seat_id": hold.seat_id,
                        "label": f"{hold.seat.coach.number}-{hold.seat.number}",
                        "comfort_class": hold.seat.comfort_class,
                        "state": hold.state,
                    }
                    for hold in holds_by_leg[leg.pk]
                ],
                "fares": {
                    str(uid): {
                        **_fare_dict(fare, own=uid == user.pk),
                        "price": prices.get((fare.pk, leg.departure_id))
                        if leg.departure_id
                        else None,
                    }
                    for uid, fare in leg_fares.items()
                },
            }
        )
    me = next(m for m in members if m.is_viewer)
    return {
        "type": "snapshot",
        "version": trip.version,
        "trip": {
            "id": trip.pk,
            "title": trip.title,
            "status": trip.status,
            "origin": {"code": trip.origin.code, "name": trip.origin.name},
            "destination": {"code": trip.destination.code, "name": trip.destination.name},
            "event": {"slug": trip.event.slug, "name": trip.event.name} if trip.event_id else None,
            "outbound_from": _iso(trip.outbound_from),
            "outbound_to": _iso(trip.outbound_to),
            "return_from": _iso(trip.return_from),
            "return_to": _iso(trip.return_to),
        },
        "me": {"user_id": me.user_id, "role": me.role, "shares_details": me.shares_details},
        "members": [
            {
                "user_id": m.user_id,
                "name": m.name,
                "avatar_url": m.avatar_url,
                "role": m.role,
                "online": m.user_id in online,
                "details_visible": m.details_visible,
            }
            for m in members
        ],
        "legs": leg_views,
    }


def trip_version(*, trip_id: int) -> int | None:
    """The trip's current version (None: no such trip), for a heartbeat's answer."""
    return Trip.objects.filter(pk=trip_id).values_list("version", flat=True).first()


def events_since(*, trip_id: int, version: int) -> list[dict] | None:
    """The events after ``version``, oldest first, or None when the client is too far
    behind (more than ``EVENT_LOG_RESYNC_LIMIT`` events) or ahead: it needs a snapshot."""
    from booking.live import event_message

    limit = settings.SIDEBYSIDE["EVENT_LOG_RESYNC_LIMIT"]
    current = trip_version(trip_id=trip_id)
    if current is None or version > current or current - version > limit:
        return None
    events = TripEvent.objects.filter(trip_id=trip_id, version__gt=version).order_by("version")
    return [event_message(event) for event in events]


# Events that take or give back the group's seats: the latest says whether they lapsed.
_SEAT_EVENTS = ("seat_held", "seated_together", "seat_released", "holds_expired")


def holds_state(*, trip_id: int, leg: str, now: dt.datetime | None = None) -> dict:
    """How the group's seats on the trip's ``leg`` are held (two queries): ``until``, when
    the first of them lapses if nobody of the group comes back to the page (None: no
    seat held), ``idle_seconds``, how long after the last one left, and ``lapsed``, True
    when the group's holds ran out (``plan.holds_expire``), some of them on this leg, and
    nobody has taken a seat since: the page offers to sit them together again."""
    now = now or timezone.now()
    until = SeatAllocation.objects.filter(
        state=AllocationState.HELD,
        leg__trip_id=trip_id,
        leg__direction=leg,
        expires_at__gt=now,
    ).aggregate(until=Min("expires_at"))["until"]
    last = (
        TripEvent.objects.filter(trip_id=trip_id, kind__in=_SEAT_EVENTS)
        .order_by("-version")
        .values("kind", "payload")
        .first()
    )
    lapsed = (
        until is None
        and last is not None
        and last["kind"] == "holds_expired"
        and bool(last["payload"].get("lapsed"))
        # Only a leg that had seats then: a return leg nobody sat on did not lapse.
        and any(r.get("leg") == leg for r in last["payload"].get("released", []))
    )
    return {
        "until": until,
        "idle_seconds": settings.SIDEBYSIDE["HOLD_IDLE_SECONDS"],
        "lapsed": lapsed,
    }
