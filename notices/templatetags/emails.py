"""Filters for the kinds' e-mail templates: ``{% load emails %}``."""

from decimal import Decimal

from django import template
from django.utils import formats

register = template.Library()


@register.filter
def cents(amount: int, currency: str = "EUR") -> str:
    """``{{ share.amount_cents|cents:share.currency }}`` → ``12,50 EUR`` (in the
    message's language)."""
    number = formats.number_format(Decimal(amount) / 100, 2, use_l10n=True)
    return f"{number}\N{NO-BREAK SPACE}{currency}"
