"""``money``: an amount in a currency's minor unit (cents) written the way the reader's
language writes prices, e.g. 4500 EUR → "45,00 €" in French, "€45.00" in English.

Integer arithmetic only: an amount is never a float anywhere in Sidebyside, so a float
reaching this filter is a bug and raises instead of being rounded silently.

Spacing follows CLDR (what browsers' ``Intl.NumberFormat`` prints): French groups thousands
with a narrow no-break space and puts a no-break space before the symbol, so a price never
wraps between its number and its "€".
"""

from django import template
from django.utils.translation import get_language

register = template.Library()

NBSP = "\u00a0"
NNBSP = "\u202f"

_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
# Currencies whose minor unit is not a hundredth (ISO 4217). Others have two decimals.
_MINOR_DIGITS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3, "TND": 3}


def _group(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return separator.join(parts)


def _as_minor_units(value) -> int:
    if isinstance(value, bool):
        raise TypeError("money expects an integer amount in minor units, not a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise TypeError(f"money expects an integer amount in minor units, got {value!r}")


def format_money(amount, currency: str = "EUR", *, language: str | None = None) -> str:
    """``amount`` in the currency's minor unit; ``language`` defaults to the active one."""
    minor = _as_minor_units(amount)
    currency = (currency or "EUR").upper()
    language = (language or get_language() or "en").split("-")[0].lower()
    digits = _MINOR_DIGITS.get(currency, 2)
    units, fraction = divmod(abs(minor), 10**digits)
    sign = "-" if minor < 0 else ""
    symbol = _SYMBOLS.get(currency)
    if language == "fr":
        number = _group(str(units), NNBSP)
        if digits:
            number += "," + str(fraction).zfill(digits)
        return f"{sign}{number}{NBSP}{symbol or currency}"
    number = _group(str(units), ",")
    if digits:
        number += "." + str(fraction).zfill(digits)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{currency}{NBSP}{number}"


@register.filter
def money(amount, currency: str = "EUR") -> str:
    """``{{ fare.price_cents|money:fare.currency }}``. An empty amount (no price) gives an
    empty string; the template says why there is no price."""
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency)
