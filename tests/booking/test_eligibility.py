"""One traveller's price through ``selectors.price_quote``: eligibility by age and card,
card numbers checked with their own message for each mistake, one best reduction, and a
price that follows the load of the comfort class."""

import datetime as dt

import pytest
from django.utils import timezone

from booking import pricing, selectors
from booking.errors import CardNumberInvalid, FareNotOffered, NotEligible
from booking.models import AllocationState, DiscountCard, SeatAllocation
from tests import factories

pytestmark = pytest.mark.django_db

STANDARD_2 = 4_500  # the factories' base price of standard-2


def _card_number(prefix: str = "2901", length: int = 12, body: str = "2345678901") -> str:
    partial = (prefix + body)[: length - 1]
    return partial + pricing.luhn_check_digit(partial)


@pytest.fixture
def catalog():
    return {
        "departure": factories.departure(),
        "passengers": factories.passenger_types(),
        "cards": factories.discount_cards(),
    }


@pytest.fixture
def departure(catalog):
    return catalog["departure"]


def _second_class_seats(departure):
    return list(departure.vehicle.coaches.get(number=2).seats.order_by("number"))


# --- Age ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("passenger_type", "age"),
    [("child", 3), ("child", 12), ("youth", 11), ("youth", 28), ("adult", 27), ("senior", 59)],
)
def test_an_age_outside_the_passenger_type_is_not_eligible(departure, passenger_type, age):
    with pytest.raises(NotEligible) as caught:
        selectors.price_quote(
            departure=departure,
            fare_class_code="standard-2",
            passenger_type_code=passenger_type,
            age=age,
        )
    assert "age" in caught.value.fields
    assert str(age) in str(caught.value.message)


@pytest.mark.parametrize(("passenger_type", "age"), [("child", 4), ("child", 11), ("senior", 99)])
def test_an_age_at_the_edges_of_the_passenger_type_is_eligible(departure, passenger_type, age):
    quote = selectors.price_quote(
        departure=departure,
        fare_class_code="standard-2",
        passenger_type_code=passenger_type,
        age=age,
    )
    assert quote.base_cents == STANDARD_2


def test_an_unknown_passenger_type_is_not_eligible(departure):
    with pytest.raises(NotEligible) as caught:
        selectors.price_quote(
            departure=departure, fare_class_code="standard-2", passenger_type_code="martian"
        )
    assert "passenger_type" in caught.value.fields


# --- Cards ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "passenger_type", "age"),
    [("youth-card", "adult", 28), ("youth-card", "child", 11), ("senior-card", "adult", 59)],
)
def test_a_card_outside_its_age_range_is_not_eligible(departure, card, passenger_type, age):
    with pytest.raises(NotEligible) as caught:
        selectors.price_quote(
            departure=departure,
            fare_class_code="standard-2",
            passenger_type_code=passenger_type,
            age=age,
            card_code=card,
            card_number=_card_number("2901" if card == "youth-card" else "2906"),
        )
    assert "card" in caught.value.fields


def test_a_card_without_an_age_is_not_eligible(departure):
    with pytest.raises(NotEligible) as caught:
        selectors.price_quote(
            departure=departure,
            fare_class_code="standard-2",
            passenger_type_code="youth",
            card_code="youth-card",
            card_number=_card_number(),
        )
    assert "age" in caught.value.fields


def test_an_unknown_card_is_not_eligible(departure):
    with pytest.raises(NotEligible) as caught:
        selectors.price_quote(
            departure=departure,
            fare_class_code="standard-2",
            passenger_type_code="youth",
            age=20,
            card_code="gold-card",
            card_number=_card_number(),
        )
    assert "card" in caught.value.fields


def _youth_card_quote(departure, number):
    return selectors.price_quote(
        departure=departure,
        fare_class_code="standard-2",
        passenger_type_code="youth",
        age=20,
        card_code="youth-card",
        card_number=number,
    )


def test_each_kind_of_wrong_card_number_is_refused_with_its_own_message(departure):
    valid = _card_number()
    typo = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    wrong = {
        "wrong length": _card_number(length=11),
        "wrong prefix": _card_number(prefix="2906"),
        "bad check digit": typo,
        "letters": valid[:4] + "ABCD" + valid[8:],
        "empty": "",
    }
    messages = {}
    for mistake, number in wrong.items():
        with pytest.raises(CardNumberInvalid) as caught:
            _youth_card_quote(departure, number)
        assert caught.value.code == "card_number_invalid", mistake
        assert "card_number" in caught.value.fields, mistake
        messages[mistake] = str(caught.value.message)
    assert len(set(messages.values())) == len(wrong), messages


@pytest.mark.parametrize("layout", ["{a} {b} {c}", " {a}{b}{c} ", "{a}-{b}-{c}", "{a}  {b}\t{c}"])
def test_a_valid_card_number_with_spaces_or_dashes_is_accepted(departure, layout):
    number = _card_number()
    written = layout.format(a=number[:4], b=number[4:8], c=number[8:])
    quote = _youth_card_quote(departure, written)
    assert quote.reduction_source == "card:youth-card"
    assert quote.amount_cents == pricing.reduce_amount(
        amount_cents=STANDARD_2, reduction_percent=30
    )


def test_full_width_digits_are_not_a_card_number(departure):
    number = _card_number()
    full_width = "".join(chr(ord(d) - ord("0") + ord("０")) for d in number)
    with pytest.raises(CardNumberInvalid):
        _youth_card_quote(departure, full_width)


# --- One best reduction -------------------------------------------------------------------


def test_a_youth_with_a_youth_card_gets_the_card_reduction(departure):
    quote = _youth_card_quote(departure, _card_number())
    assert (quote.reduction_source, quote.reduction_percent) == ("card:youth-card", 30)
    assert quote.amount_cents == 3_150


def test_a_child_keeps_the_child_reduction_when_a_smaller_card_reduction_is_offered(
    catalog, departure
):
    DiscountCard.objects.create(
        code="family-card",
        name="Family card",
        min_age=0,
        max_age=None,
        reduction_percent=25,
        number_prefix="2950",
        number_length=12,
    )
    quote = selectors.price_quote(
        departure=departure,
        fare_class_code="standard-2",
        passenger_type_code="child",
        age=8,
        card_code="family-card",
        card_number=_card_number(prefix="2950"),
    )
    assert (quote.reduction_source, quote.reduction_percent) == ("passenger:child", 50)
    assert quote.amount_cents == 2_250  # stacked, 50 % then 25 %, would be 1 688


def test_a_child_gets_a_card_reduction_that_beats_the_child_reduction(catalog, departure):
    DiscountCard.objects.create(
        code="kid-plus",
        name="Kid plus",
        min_age=4,
        max_age=11,
        reduction_percent=60,
        number_prefix="2960",
        number_length=12,
    )
    quote = selectors.price_quote(
        departure=departure,
        fare_class_code="standard-2",
        passenger_type_code="child",
        age=8,
        card_code="kid-plus",
        card_number=_card_number(prefix="2960"),
    )
    assert (quote.reduction_source, quote.reduction_percent) == ("card:kid-plus", 60)
    assert quote.amount_cents == 1_800


def test_a_child_cannot_use_the_youth_card(departure):
    with pytest.raises(NotEligible):
        selectors.price_quote(
            departure=departure,
            fare_class_code="standard-2",
            passenger_type_code="child",
            age=10,
            card_code="youth-card",
            card_number=_card_number(),
        )


# --- Fares and load -----------------------------------------------------------------------


def test_an_unknown_fare_is_not_offered(departure):
    with pytest.raises(FareNotOffered):
        selectors.price_quote(departure=departure, fare_class_code="sleeper")


def test_a_fare_class_that_exists_but_is_not_sold_on_this_departure_is_not_offered(catalog):
    only_standard = factories.departure(prices={"standard-2": 3_900})
    with pytest.raises(FareNotOffered):
        selectors.price_quote(departure=only_standard, fare_class_code="flex-1")


def test_the_price_rises_as_the_comfort_class_fills(departure):
    seats = _second_class_seats(departure)  # 12 seats; buckets: 50 % → +20 %, 80 % → +50 %

    def price(code="standard-2"):
        return selectors.price_quote(departure=departure, fare_class_code=code).amount_cents

    assert price() == 4_500
    factories.sell(departure, seats[:5])  # 41 %
    assert price() == 4_500
    factories.sell(departure, seats[5:6])  # 50 %
    assert price() == 5_400
    factories.sell(departure, seats[6:10])  # 83 %
    assert price() == 6_750
    assert price("standard-1") == 7_000  # first class is still empty


def test_an_expired_hold_does_not_raise_the_price(departure):
    seats = _second_class_seats(departure)
    SeatAllocation.objects.bulk_create(
        SeatAllocation(
            departure=departure,
            seat=seat,
            state=AllocationState.HELD,
            expires_at=timezone.now() - dt.timedelta(minutes=1),
        )
        for seat in seats[:10]
    )
    quote = selectors.price_quote(departure=departure, fare_class_code="standard-2")
    assert quote.amount_cents == STANDARD_2
    SeatAllocation.objects.filter(departure=departure).update(
        expires_at=timezone.now() + dt.timedelta(minutes=10)
    )
    quote = selectors.price_quote(departure=departure, fare_class_code="standard-2")
    assert quote.amount_cents == 6_750
