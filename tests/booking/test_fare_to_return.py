"""Issue 22 point 4: a return trip without retyping. Choosing a fare on the outbound leg
gives the return leg the same passenger type, age and discount card when the traveller
has chosen nothing there yet; each leg stays editable on its own."""

import datetime as dt

import pytest
from django.utils import timezone

from booking import plan
from booking.models import Station, TravellerFare, TripEvent
from tests import factories

pytestmark = pytest.mark.django_db


def return_trip(*, return_prices=None):
    factories.passenger_types()
    factories.discount_cards()
    olivia = factories.user("Olivia Organiser")
    out_day = timezone.localdate() + dt.timedelta(days=3)
    back_day = out_day + dt.timedelta(days=2)
    trip = factories.trip(organiser=olivia, days_ahead=3, return_from=back_day)
    ana = factories.member(trip, "Ana")
    paris, lyon = Station.objects.get(code="FRPLY"), Station.objects.get(code="FRLPD")
    train = factories.vehicle()
    for leg, day, origin, destination, prices in (
        ("outbound", out_day, paris, lyon, None),
        ("return", back_day, lyon, paris, return_prices),
    ):
        options = [
            factories.departure(
                origin=origin,
                destination=destination,
                vehicle_obj=train,
                departs_at=timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 5))),
                prices=prices,
            )
            for hour in (9, 15)
        ]
        plan.poll_propose(
            trip_id=trip.pk, by=olivia, leg=leg, departure_ids=[d.pk for d in options]
        )
    return trip, olivia, ana


def youth(trip, user, *, leg="outbound", fare="standard-2"):
    card = next(c for c in factories.discount_cards().values() if c.max_age and c.max_age < 30)
    return plan.fare_choose(
        trip_id=trip.pk,
        user=user,
        leg=leg,
        fare_class_code=fare,
        passenger_type_code="youth",
        age=22,
        card_code=card.code,
        card_number=factories.youth_card_number(),
    )


def fare_of(trip, user, leg):
    fare = (
        TravellerFare.objects.filter(leg__trip=trip, leg__direction=leg, user=user)
        .select_related("fare_class", "passenger_type", "discount_card")
        .first()
    )
    if fare is None:
        return None
    card = fare.discount_card.code if fare.discount_card else ""
    return (fare.fare_class.code, fare.passenger_type.code, fare.age, card, fare.card_number)


def test_the_outbound_fare_is_carried_to_an_empty_return_leg():
    trip, _olivia, ana = return_trip()
    event = youth(trip, ana)

    outbound = fare_of(trip, ana, "outbound")
    assert outbound[1:3] == ("youth", 22) and outbound[3]
    assert fare_of(trip, ana, "return") == outbound
    assert event.payload["carried_to"] == "return"
    # One change, one event: the return's fare came with the outbound's.
    assert TripEvent.objects.filter(trip=trip, kind="fare_chosen").count() == 1


def test_a_return_fare_already_chosen_is_left_alone_and_each_leg_stays_editable():
    trip, _olivia, ana = return_trip()
    plan.fare_choose(trip_id=trip.pk, user=ana, leg="return", fare_class_code="flex-1")
    event = youth(trip, ana)
    assert fare_of(trip, ana, "return") == ("flex-1", "adult", None, "", "")
    assert "carried_to" not in event.payload

    # Changing the return afterwards leaves the outbound as it was, and the other way round.
    trip2, _olivia2, ben = return_trip()
    youth(trip2, ben)
    plan.fare_choose(trip_id=trip2.pk, user=ben, leg="return", fare_class_code="standard-1")
    assert fare_of(trip2, ben, "return") == ("standard-1", "adult", None, "", "")
    assert fare_of(trip2, ben, "outbound")[1:3] == ("youth", 22)
    youth(trip2, ben, fare="flex-2")
    assert fare_of(trip2, ben, "return") == ("standard-1", "adult", None, "", "")


def test_a_return_leg_fare_is_not_carried_to_the_outbound():
    trip, _olivia, ana = return_trip()
    event = youth(trip, ana, leg="return")
    assert fare_of(trip, ana, "outbound") is None
    assert "carried_to" not in event.payload


def test_a_fare_the_return_train_does_not_offer_becomes_the_first_of_its_class():
    trip, _olivia, ana = return_trip(return_prices={"flex-2": 6500, "standard-1": 7000})
    youth(trip, ana, fare="standard-2")
    assert fare_of(trip, ana, "return")[0] == "flex-2"
    assert fare_of(trip, ana, "return")[1:3] == ("youth", 22)

    # No fare of that class at all on the return's train: nothing is carried, nothing fails.
    trip2, _olivia2, ben = return_trip(return_prices={"standard-1": 7000})
    event = youth(trip2, ben, fare="standard-2")
    assert fare_of(trip2, ben, "return") is None
    assert "carried_to" not in event.payload
    assert fare_of(trip2, ben, "outbound")[0] == "standard-2"


def test_a_one_way_trip_chooses_as_before():
    trip, (_olivia, ana, _ben), _departures = factories.planned_trip(travellers=3)
    event = youth(trip, ana)
    assert "carried_to" not in event.payload
    assert TravellerFare.objects.filter(leg__trip=trip, user=ana).count() == 1


@pytest.mark.parametrize(
    ("language", "note"),
    [("en", "Also used for the return: <a"), ("fr", "Vaut aussi au retour : <a")],
)
def test_the_outbound_form_says_it_is_also_used_for_the_return(client, language, note):
    trip, _olivia, ana = return_trip()
    client.force_login(ana)

    def page(leg):
        url = f"/trips/{trip.pk}/?leg={leg}"
        return client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert note in page("outbound")
    assert "data-fare-carries" not in page("return")
    youth(trip, ana)
    assert note in page("outbound")  # carried: the same on both legs
    plan.fare_choose(trip_id=trip.pk, user=ana, leg="return", fare_class_code="flex-1")
    assert "data-fare-carries" not in page("outbound")  # the return has its own now

    one_way, (_o, ben, _b), _departures = factories.planned_trip(travellers=3)
    client.force_login(ben)
    html = client.get(f"/trips/{one_way.pk}/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert "data-fare-form" in html and "data-fare-carries" not in html
