"""Pure pricing arithmetic: integers in, integers out. No floats anywhere, so a price is
the same on every machine and every sum of shares adds up to the cent.

Rules (see docs/pricing.md):
- the fare's price is its base price raised by the highest bucket uplift whose load
  threshold is reached (so a price never falls as seats sell);
- reductions do not stack: the best single reduction the traveller is eligible for
  applies (age or discount card); a reduction never raises a price;
- rounding is half up, to the cent.
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PriceQuote:
    amount_cents: int
    currency: str
    base_cents: int
    fare_cents: int
    uplift_percent: int
    reduction_percent: int
    reduction_source: str | None


def _require_int(**values: object) -> None:
    """Integers only: one float (or Decimal, or NaN) here would turn every amount computed
    after it into a float, or clamp into a nonsense reduction."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")


def _percent_of(amount_cents: int, percent: int) -> int:
    """``amount_cents * percent / 100`` rounded half up, in integers."""
    return (amount_cents * percent + 50) // 100


def load_percent(*, taken: int, capacity: int) -> int:
    """Share of a comfort class that is sold or held, in whole percent (floor)."""
    if capacity <= 0:
        return 100
    taken = max(0, min(taken, capacity))
    return taken * 100 // capacity


def bucket_uplift(*, load: int, buckets: Iterable[tuple[int, int]]) -> int:
    """The highest uplift among buckets whose threshold the load has reached."""
    return max((uplift for threshold, uplift in buckets if load >= threshold), default=0)


def fare_amount(*, base_cents: int, uplift_percent: int) -> int:
    _require_int(base_cents=base_cents, uplift_percent=uplift_percent)
    return base_cents + _percent_of(base_cents, max(0, uplift_percent))


def reduce_amount(*, amount_cents: int, reduction_percent: int) -> int:
    _require_int(amount_cents=amount_cents, reduction_percent=reduction_percent)
    percent = max(0, min(100, reduction_percent))
    return amount_cents - _percent_of(amount_cents, percent)


def quote(
    *,
    base_cents: int,
    currency: str,
    load: int,
    buckets: Iterable[tuple[int, int]],
    reductions: Iterable[tuple[str, int]] = (),
) -> PriceQuote:
    """``reductions`` are the (source, percent) pairs the traveller is eligible for."""
    _require_int(base_cents=base_cents)
    if base_cents < 0:
        raise TypeError("base_cents must be a non-negative int")
    reductions = list(reductions)
    for _, percent in reductions:
        _require_int(reduction_percent=percent)
    uplift = bucket_uplift(load=load, buckets=buckets)
    fare_cents = fare_amount(base_cents=base_cents, uplift_percent=uplift)
    source, percent = max(reductions, key=lambda pair: pair[1], default=(None, 0))
    percent = max(0, min(100, percent))
    if percent == 0:
        source = None
    return PriceQuote(
        amount_cents=reduce_amount(amount_cents=fare_cents, reduction_percent=percent),
        currency=currency,
        base_cents=base_cents,
        fare_cents=fare_cents,
        uplift_percent=uplift,
        reduction_percent=percent,
        reduction_source=source,
    )


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit to append to ``partial`` so that the whole passes the Luhn check."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return digit
    raise ValueError("no check digit")  # unreachable for a string of digits


def normalise_card_number(raw: str) -> str:
    return "".join(raw.split()).replace("-", "")
