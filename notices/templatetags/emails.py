"""Filters for the kinds' e-mail templates: ``{% load emails %}``. They write as the pages
do (``core.l10n``: CLDR through Babel), in the message's language."""

from django import template

from core.l10n import format_money, seat_name_of

register = template.Library()


@register.filter
def cents(amount: int, currency: str = "EUR") -> str:
    """``{{ share.amount_cents|cents:share.currency }}`` → "12,50 €" / "€12.50"."""
    return format_money(amount, currency)


@register.filter
def seat_name(value) -> str:
    """A seat or its label "2-14" → "Voiture 2, place 14" / "Coach 2, seat 14"."""
    return seat_name_of(value)
