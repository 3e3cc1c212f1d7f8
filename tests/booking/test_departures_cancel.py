import pytest

from booking.disruptions import departures_cancel
from booking.models import Departure
from tests import factories


@pytest.mark.django_db
def test_cancelling_departures_cancels_only_scheduled_ones_and_twice_changes_nothing():
    first, second = factories.departure(), factories.departure()
    untouched = factories.departure()
    cancelled = departures_cancel(departure_ids=[first.pk, second.pk])
    assert {d.pk for d in cancelled} == {first.pk, second.pk}
    statuses = dict(Departure.objects.values_list("pk", "status"))
    assert statuses[first.pk] == statuses[second.pk] == Departure.Status.CANCELLED
    assert statuses[untouched.pk] == Departure.Status.SCHEDULED
    assert departures_cancel(departure_ids=[first.pk, second.pk]) == []
