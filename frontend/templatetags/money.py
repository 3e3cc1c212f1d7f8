"""``money``: an amount in a currency's minor unit (cents) written the way the reader's
language writes prices, e.g. 4500 EUR → "45,00 €" in French, "€45.00" in English.

The writing is CLDR's, through Babel (``core.l10n.format_money``): French groups
thousands with a narrow no-break space and puts a no-break space before the symbol, so a
price never wraps between its number and its "€". Integer arithmetic only: a float
reaching this filter is a bug and raises instead of being rounded silently.
"""

from django import template

from core.l10n import format_money

register = template.Library()

NBSP = "\u00a0"
NNBSP = "\u202f"

__all__ = ["NBSP", "NNBSP", "format_money", "money"]


@register.filter
def money(amount, currency: str = "EUR") -> str:
    """``{{ fare.price_cents|money:fare.currency }}``. An empty amount (no price) gives an
    empty string; the template says why there is no price."""
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency)
