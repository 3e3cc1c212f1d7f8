"""booking's sections of "Download my data" (``groups.exports``): the trips of the groups
the person is or was in, with their role; and their travel — fares (passenger type, age,
discount card and its number), seats, votes, tickets, their actions on the live plan and
their presence on it. Registered in ``BookingConfig.ready()``, with what deleting the
account erases (``travel_erase``) and keeps."""

from django.utils.translation import gettext_lazy as _

from booking.models import (
    Disruption,
    DisruptionChange,
    DisruptionChoice,
    PollVote,
    Reroute,
    SeatAllocation,
    Ticket,
    TravellerFare,
    Trip,
    TripEvent,
    TripPresence,
)
from core.jsonable import iso_or_none as _when
from groups.models import Membership

TRAVEL_MODELS = (
    "booking.Trip",
    "booking.TravellerFare",
    "booking.SeatAllocation",
    "booking.PollVote",
    "booking.Ticket",
    "booking.TripEvent",
    "booking.TripPresence",
    "booking.DisruptionChoice",
    "booking.Reroute",
    "booking.Disruption",
    "booking.DisruptionChange",
)
TRAVEL_KEPT = _(
    "Tickets and the seats they were for are kept, under “Former traveller”, for the "
    "accounting of the booking; your votes and the plan’s history stay with the group, "
    "without your name."
)


def trips_export(user) -> list[dict]:
    """Two queries whatever the number of trips."""
    memberships = {
        membership.group_id: membership
        for membership in Membership.objects.filter(user=user).select_related("group")
    }
    trips = (
        Trip.objects.filter(group_id__in=memberships)
        .select_related("origin", "destination", "event")
        .order_by("outbound_from", "pk")
    )
    return [
        {
            "title": trip.title,
            "group": memberships[trip.group_id].group.name,
            "from": {"code": trip.origin.code, "name": trip.origin.name},
            "to": {"code": trip.destination.code, "name": trip.destination.name},
            "event": trip.event.name if trip.event else None,
            "outbound_from": _when(trip.outbound_from),
            "outbound_to": _when(trip.outbound_to),
            "return_from": _when(trip.return_from),
            "return_to": _when(trip.return_to),
            "status": trip.status,
            "role": memberships[trip.group_id].role,
            "membership_status": memberships[trip.group_id].status,
            "created_by_you": trip.created_by_id == user.pk,
        }
        for trip in trips
    ]


def _seat(allocation: SeatAllocation) -> dict:
    departure = allocation.departure
    return {
        "train": departure.service_number,
        "departs_at": _when(departure.departs_at),
        "coach": allocation.seat.coach.number,
        "seat": allocation.seat.number,
    }


def travel_export(user) -> dict:
    """The person's own travel data, trip by trip (a fixed number of queries)."""
    fares = TravellerFare.objects.filter(user=user).select_related(
        "leg__trip", "fare_class", "passenger_type", "discount_card"
    )
    seats = SeatAllocation.objects.filter(user=user).select_related(
        "leg__trip", "departure", "seat__coach"
    )
    votes = PollVote.objects.filter(user=user).select_related("leg__trip", "option__departure")
    tickets = Ticket.objects.filter(traveller=user).select_related(
        "leg__trip",
        "fare_class",
        "passenger_type",
        "discount_card",
        "allocation__departure",
        "allocation__seat__coach",
    )
    return {
        "fares": [
            {
                "trip": f.leg.trip.title,
                "leg": f.leg.direction,
                "fare_class": f.fare_class.code,
                "passenger_type": f.passenger_type.code,
                "age": f.age,
                "discount_card": f.discount_card.code if f.discount_card else None,
                "discount_card_number": f.card_number or None,
                "updated_at": _when(f.updated_at),
            }
            for f in fares.order_by("pk")
        ],
        "seats": [
            {
                "trip": a.leg.trip.title if a.leg else None,
                "leg": a.leg.direction if a.leg else None,
                **_seat(a),
                "state": a.state,
                "held_until": _when(a.expires_at),
                "created_at": _when(a.created_at),
            }
            for a in seats.order_by("pk")
        ],
        "votes": [
            {
                "trip": v.leg.trip.title,
                "leg": v.leg.direction,
                "train": v.option.departure.service_number,
                "departs_at": _when(v.option.departure.departs_at),
                "voted_at": _when(v.voted_at),
            }
            for v in votes.order_by("pk")
        ],
        "tickets": [
            {
                "trip": t.leg.trip.title,
                "leg": t.leg.direction,
                "code": t.code,
                "state": t.state,
                **_seat(t.allocation),
                "fare_class": t.fare_class.code,
                "passenger_type": t.passenger_type.code,
                "discount_card": t.discount_card.code if t.discount_card else None,
                "price_cents": t.price_cents,
                "refunded_cents": t.refunded_cents,
                "currency": t.currency,
                "issued_at": _when(t.created_at),
                "cancelled_at": _when(t.cancelled_at),
            }
            for t in tickets.order_by("pk")
        ],
        # What they did on the live plan (the events' content names the others too).
        "plan_actions": [
            {"trip_id": trip_id, "kind": kind, "at": _when(at)}
            for trip_id, kind, at in TripEvent.objects.filter(actor=user)
            .order_by("pk")
            .values_list("trip_id", "kind", "created_at")
        ],
        "presence": [
            {"trip_id": trip_id, "connected_at": _when(at), "last_seen_at": _when(seen)}
            for trip_id, at, seen in TripPresence.objects.filter(user=user)
            .order_by("pk")
            .values_list("trip_id", "connected_at", "last_seen_at")
        ],
        # A cancelled train: their choice per ticket (refund or another train).
        "disruption_choices": [
            {"ticket": code, "choice": choice, "choose_by": _when(by), "chosen_at": _when(at)}
            for code, choice, by, at in DisruptionChoice.objects.filter(traveller=user)
            .order_by("pk")
            .values_list("ticket__code", "choice", "choose_by", "chosen_at")
        ],
        "reroutes_proposed": [
            {"trip_id": trip_id, "train": train, "proposed_at": _when(at)}
            for trip_id, train, at in Reroute.objects.filter(proposed_by=user)
            .order_by("pk")
            .values_list("trip_id", "departure__service_number", "proposed_at")
        ],
        # Staff who recorded what happened to a departure (docs/disruptions.md).
        "disruptions_recorded": [
            {"train": train, "kind": kind, "at": _when(at)}
            for train, kind, at in Disruption.objects.filter(created_by=user)
            .order_by("pk")
            .values_list("departure__service_number", "kind", "created_at")
        ],
        "disruption_changes_made": [
            {"disruption_id": disruption_id, "what": what, "at": _when(at)}
            for disruption_id, what, at in DisruptionChange.objects.filter(by=user)
            .order_by("pk")
            .values_list("disruption_id", "what", "at")
        ],
    }


def travel_erase(user) -> None:
    """Account deletion (``groups.exports.erase_all``, in its transaction): the person's
    fares go (age, discount card and its number: a card type needs its number, so the row
    goes whole; the tickets and shares keep what a price was made of), and their presence
    rows. Held seats went when they left their groups; tickets still to use are cancelled
    by payments (``user_anonymising``)."""
    TravellerFare.objects.filter(user=user).delete()
    TripPresence.objects.filter(user=user).delete()
