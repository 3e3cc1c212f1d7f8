"""``{% load seats %}``: ``{{ seat|seat_name }}`` → "Coach 2, seat 14" / "Voiture 2,
place 14", from a ``Seat`` or its label "2-14" (``core.l10n.seat_name_of``): the one name
of a seat on the plan, the pay page, the ticket and in e-mails."""

from django import template

from core.l10n import seat_name_of

register = template.Library()


@register.filter
def seat_name(value) -> str:
    return seat_name_of(value)
