"""Properties of the pricing arithmetic (booking/pricing.py, docs/pricing.md): integers in
and out, prices that never fall as seats sell, one best reduction that never raises a
price, half-up rounding to the cent, and Luhn check digits."""

import dataclasses
import decimal
import math
import random
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from booking import pricing

amounts = st.integers(min_value=0, max_value=10_000_000)
bases = st.integers(min_value=1, max_value=1_000_000)
any_percent = st.integers(min_value=-1_000, max_value=1_000)
uplifts = st.integers(min_value=0, max_value=300)
thresholds = st.integers(min_value=0, max_value=100)
bucket_tables = st.lists(st.tuples(thresholds, uplifts), max_size=8)
reduction_lists = st.lists(
    st.tuples(st.text(min_size=1, max_size=12), any_percent), min_size=0, max_size=5
)
AMOUNT_FIELDS = ("amount_cents", "base_cents", "fare_cents")


def _half_up(value: Fraction) -> int:
    """The exact rational, rounded half up: the oracle the integer arithmetic must match."""
    return math.floor(value + Fraction(1, 2))


# --- A reduction never raises a price ------------------------------------------------------


@given(amount=amounts, percent=any_percent)
@example(amount=1, percent=-50)
@example(amount=999, percent=101)
def test_a_reduction_never_raises_a_price_nor_makes_it_negative(amount, percent):
    reduced = pricing.reduce_amount(amount_cents=amount, reduction_percent=percent)
    assert 0 <= reduced <= amount


@given(base=bases, uplift=st.integers(-1_000, 1_000), load=thresholds, reductions=reduction_lists)
def test_a_quote_never_costs_more_than_its_fare_nor_its_fare_less_than_its_base(
    base, uplift, load, reductions
):
    quote = pricing.quote(
        base_cents=base,
        currency="EUR",
        load=load,
        buckets=[(0, uplift)],
        reductions=reductions,
    )
    assert 0 <= quote.amount_cents <= quote.fare_cents
    assert quote.fare_cents >= quote.base_cents == base
    assert 0 <= quote.reduction_percent <= 100


# --- Prices never fall as seats sell ----------------------------------------------------------


@given(
    base=bases,
    buckets=bucket_tables,
    capacity=st.integers(min_value=1, max_value=400),
    taken=st.tuples(st.integers(0, 450), st.integers(0, 450)).map(sorted),
    reductions=reduction_lists,
)
def test_a_price_never_falls_as_seats_sell_whatever_the_bucket_table(
    base, buckets, capacity, taken, reductions
):
    fewer, more = taken
    before = pricing.quote(
        base_cents=base,
        currency="EUR",
        load=pricing.load_percent(taken=fewer, capacity=capacity),
        buckets=buckets,
        reductions=reductions,
    )
    after = pricing.quote(
        base_cents=base,
        currency="EUR",
        load=pricing.load_percent(taken=more, capacity=capacity),
        buckets=buckets,
        reductions=reductions,
    )
    assert after.fare_cents >= before.fare_cents
    assert after.amount_cents >= before.amount_cents


@given(base=bases, buckets=bucket_tables, load=thresholds, seed=st.integers(0, 2**32))
def test_the_order_buckets_are_entered_in_does_not_change_the_price(base, buckets, load, seed):
    shuffled = list(buckets)
    random.Random(seed).shuffle(shuffled)
    first = pricing.quote(base_cents=base, currency="EUR", load=load, buckets=buckets)
    second = pricing.quote(base_cents=base, currency="EUR", load=load, buckets=shuffled)
    assert first == second


@given(buckets=bucket_tables, load=thresholds)
def test_the_highest_uplift_reached_applies(buckets, load):
    reached = [uplift for threshold, uplift in buckets if threshold <= load]
    assert pricing.bucket_uplift(load=load, buckets=buckets) == max(reached, default=0)


def test_a_lower_uplift_entered_above_a_higher_one_does_not_lower_the_price():
    buckets = [(80, 10), (50, 40)]  # an operator's slip: the 80 % bucket is cheaper
    at_60 = pricing.quote(base_cents=10_000, currency="EUR", load=60, buckets=buckets)
    at_90 = pricing.quote(base_cents=10_000, currency="EUR", load=90, buckets=buckets)
    assert at_60.fare_cents == at_90.fare_cents == 14_000


@given(
    taken=st.tuples(st.integers(-5, 500), st.integers(-5, 500)).map(sorted),
    capacity=st.integers(1, 400),
)
def test_load_is_a_whole_percent_that_never_falls_as_seats_sell(taken, capacity):
    fewer, more = taken
    low = pricing.load_percent(taken=fewer, capacity=capacity)
    high = pricing.load_percent(taken=more, capacity=capacity)
    assert isinstance(low, int)
    assert 0 <= low <= high <= 100


def test_load_is_rounded_down_and_a_class_without_seats_counts_as_full():
    assert pricing.load_percent(taken=1, capacity=3) == 33
    assert pricing.load_percent(taken=2, capacity=3) == 66
    assert pricing.load_percent(taken=0, capacity=0) == 100


# --- Integers only ---------------------------------------------------------------------------


@given(
    base=st.integers(0, 10_000_000),
    buckets=bucket_tables,
    load=st.integers(-10, 110),
    reductions=reduction_lists,
)
def test_every_amount_of_a_quote_is_an_int(base, buckets, load, reductions):
    quote = pricing.quote(
        base_cents=base, currency="EUR", load=load, buckets=buckets, reductions=reductions
    )
    for name in (*AMOUNT_FIELDS, "uplift_percent", "reduction_percent"):
        value = getattr(quote, name)
        assert type(value) is int, f"{name} is {type(value).__name__}"
    assert {f.name for f in dataclasses.fields(quote)} >= set(AMOUNT_FIELDS)


@given(base=st.floats(allow_nan=True, allow_infinity=True))
@example(base=45.0)
def test_a_float_base_price_is_refused(base):
    with pytest.raises(TypeError):
        pricing.quote(base_cents=base, currency="EUR", load=0, buckets=[])


@pytest.mark.parametrize("base", [decimal.Decimal("45.00"), True, "4500", -1])
def test_a_base_price_that_is_not_a_count_of_cents_is_refused(base):
    with pytest.raises(TypeError):
        pricing.quote(base_cents=base, currency="EUR", load=0, buckets=[])


non_ints = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


@given(percent=non_ints)
@example(percent=30.0)
@example(percent=float("nan"))  # NaN would clamp to 100 %: a free ticket
def test_a_reduction_percent_that_is_not_an_int_is_refused(percent):
    with pytest.raises(TypeError):
        pricing.quote(
            base_cents=4500, currency="EUR", load=0, buckets=[], reductions=[("card:x", percent)]
        )


@given(uplift=non_ints)
@example(uplift=12.5)
def test_an_uplift_that_is_not_an_int_is_refused(uplift):
    with pytest.raises(TypeError):
        pricing.quote(base_cents=4500, currency="EUR", load=50, buckets=[(0, uplift)])


# --- One best reduction, no stacking ------------------------------------------------------


@given(
    base=bases,
    reductions=st.lists(
        st.tuples(st.text(min_size=1, max_size=12), st.integers(0, 100)), min_size=1, max_size=5
    ),
)
def test_the_best_single_reduction_applies(base, reductions):
    quote = pricing.quote(
        base_cents=base, currency="EUR", load=0, buckets=[], reductions=reductions
    )
    best = max(percent for _, percent in reductions)
    assert quote.reduction_percent == best
    assert quote.amount_cents == base - _half_up(Fraction(base * best, 100))
    if best:
        assert (quote.reduction_source, best) in reductions
    else:
        assert quote.reduction_source is None
    # Any other reduction on its own would cost at least as much.
    for _, percent in reductions:
        alone = pricing.reduce_amount(amount_cents=base, reduction_percent=percent)
        assert quote.amount_cents <= alone


def test_a_child_reduction_and_a_card_do_not_stack():
    quote = pricing.quote(
        base_cents=10_000,
        currency="EUR",
        load=0,
        buckets=[],
        reductions=[("passenger:child", 50), ("card:youth-card", 30)],
    )
    assert quote.amount_cents == 5_000  # stacked, it would be 3 500
    assert quote.reduction_source == "passenger:child"


def test_a_reduction_above_100_percent_makes_the_ticket_free_not_negative():
    quote = pricing.quote(
        base_cents=4_500, currency="EUR", load=0, buckets=[], reductions=[("card:x", 150)]
    )
    assert quote.amount_cents == 0
    assert quote.reduction_percent == 100


def test_a_negative_reduction_is_no_reduction():
    quote = pricing.quote(
        base_cents=4_500, currency="EUR", load=0, buckets=[], reductions=[("card:x", -20)]
    )
    assert quote.amount_cents == 4_500
    assert quote.reduction_percent == 0
    assert quote.reduction_source is None


# --- Rounding: half up, to the cent --------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "uplift", "expected"),
    [
        (4_525, 10, 4_978),  # +452.5 → +453
        (4_524, 10, 4_976),  # +452.4 → +452
        (4_526, 10, 4_979),  # +452.6 → +453
        (1, 50, 2),  # +0.5 → +1
        (4_500, 20, 5_400),
    ],
)
def test_an_uplift_is_rounded_half_up_to_the_cent(base, uplift, expected):
    assert pricing.fare_amount(base_cents=base, uplift_percent=uplift) == expected


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (4_505, 30, 3_153),  # −1351.5 → −1352
        (4_503, 30, 3_152),  # −1350.9 → −1351
        (4_501, 30, 3_151),  # −1350.3 → −1350
        (999, 50, 499),  # −499.5 → −500
        (1, 50, 0),  # −0.5 → −1
        (4_500, 100, 0),
    ],
)
def test_a_reduction_is_rounded_half_up_to_the_cent(amount, percent, expected):
    assert pricing.reduce_amount(amount_cents=amount, reduction_percent=percent) == expected


@given(base=amounts, uplift=uplifts, percent=st.integers(0, 100))
def test_integer_arithmetic_matches_exact_rational_arithmetic_rounded_half_up(
    base, uplift, percent
):
    fare = pricing.fare_amount(base_cents=base, uplift_percent=uplift)
    assert fare == base + _half_up(Fraction(base * uplift, 100))
    reduced = pricing.reduce_amount(amount_cents=fare, reduction_percent=percent)
    assert reduced == fare - _half_up(Fraction(fare * percent, 100))


# --- Luhn check digits --------------------------------------------------------------------

digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=30)


@given(partial=digit_strings)
def test_the_check_digit_makes_a_valid_number(partial):
    digit = pricing.luhn_check_digit(partial)
    assert len(digit) == 1 and digit.isdigit()
    assert pricing.luhn_valid(partial + digit)


@given(partial=digit_strings, data=st.data())
def test_any_single_digit_change_breaks_the_check(partial, data):
    number = partial + pricing.luhn_check_digit(partial)
    index = data.draw(st.integers(0, len(number) - 1), label="index")
    replacement = data.draw(st.sampled_from("0123456789").filter(lambda d: d != number[index]))
    typo = number[:index] + replacement + number[index + 1 :]
    assert not pricing.luhn_valid(typo)


@pytest.mark.parametrize("number", ["79927398713", "4539578763621486", "0"])
def test_known_valid_numbers_pass_the_check(number):
    assert pricing.luhn_valid(number)


@pytest.mark.parametrize(
    "number", ["79927398710", "", "7992739871a", "７９９２７３９８７１３", " 79927398713"]
)
def test_wrong_or_non_digit_numbers_fail_the_check(number):
    assert not pricing.luhn_valid(number)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2901 2345 6789", "290123456789"), (" 2901-2345-6789 ", "290123456789"), ("", "")],
)
def test_card_numbers_lose_spaces_and_dashes(raw, expected):
    assert pricing.normalise_card_number(raw) == expected
