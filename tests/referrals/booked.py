"""A trip booked for the referral tests, straight through booking's services (no Stripe)."""

import datetime as dt

from django.utils import timezone

from booking import plan
from booking.models import Station
from booking.services import TicketItem, booking_confirm
from tests import factories


def book(trip, people, on_commit=None):
    """``trip`` (of ``people``, its organiser first) gets a train, seats and a booking:
    each traveller's ticket at 4500 + 1000 × their index."""
    factories.passenger_types()
    factories.discount_cards()
    origin, destination = Station.objects.get(code="FRPLY"), Station.objects.get(code="FRLPD")
    train = factories.vehicle()
    departures = [
        factories.departure(
            origin=origin,
            destination=destination,
            vehicle_obj=train,
            departs_at=timezone.make_aware(dt.datetime.combine(trip.outbound_from, dt.time(h, 7))),
        )
        for h in (8, 10)
    ]
    organiser = people[0]
    plan.poll_propose(
        trip_id=trip.pk, by=organiser, leg="outbound", departure_ids=[d.pk for d in departures]
    )
    plan.poll_settle(trip_id=trip.pk, by=organiser, leg="outbound", departure_id=departures[0].pk)
    plan.sit_together(trip_id=trip.pk, user=organiser, leg="outbound")
    leg = trip.legs.get()
    items = []
    for index, person in enumerate(people):
        allocation = leg.allocations.get(user=person, state="held")
        fare = leg.fares.get(user=person)
        items.append(
            TicketItem(
                allocation_id=allocation.pk,
                traveller_id=person.pk,
                leg_id=leg.pk,
                fare_class_id=fare.fare_class_id,
                passenger_type_id=fare.passenger_type_id,
                discount_card_id=None,
                price_cents=4500 + 1000 * index,
                currency="EUR",
            )
        )
    if on_commit is None:
        return booking_confirm(trip_id=trip.pk, items=items)
    with on_commit():
        return booking_confirm(trip_id=trip.pk, items=items)
