"""booking's signals for the apps above it: sent once, after commit, with what they need."""

import pytest

from booking import signals
from booking.services import TicketItem, booking_confirm
from tests import factories

pytestmark = pytest.mark.django_db


class Heard:
    def __init__(self, signal):
        self.signal, self.calls = signal, []

    def __enter__(self):
        self.signal.connect(self.receive)
        return self

    def __exit__(self, *exc):
        self.signal.disconnect(self.receive)

    def receive(self, sender, **kwargs):
        kwargs.pop("signal", None)
        self.calls.append(kwargs)


def test_trip_created_is_announced_after_commit(django_capture_on_commit_callbacks):
    organiser = factories.user()
    with Heard(signals.trip_created) as heard:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            trip = factories.trip(organiser=organiser)
        assert heard.calls == []
        for callback in callbacks:
            callback()
    assert heard.calls == [{"trip_id": trip.pk, "user_id": organiser.pk}]


def test_booking_confirmed_carries_the_travellers_and_the_amount(
    django_capture_on_commit_callbacks,
):
    trip, people, _departure = factories.checkout_ready_trip(travellers=2)
    leg = trip.legs.get()
    items = []
    for person, price in zip(people, (4500, 3150), strict=True):
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
                price_cents=price,
                currency="EUR",
            )
        )
    with (
        Heard(signals.booking_confirmed) as heard,
        django_capture_on_commit_callbacks(execute=True),
    ):
        booking = booking_confirm(trip_id=trip.pk, items=items)
    assert heard.calls == [
        {
            "booking_id": booking.pk,
            "trip_id": trip.pk,
            "traveller_ids": sorted(p.pk for p in people),
            "amount_cents": 7650,
            "currency": "EUR",
        }
    ]
