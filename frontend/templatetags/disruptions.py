"""``disruptions``: the trip page's banner about its trains' cancellations, delays and
vehicle swaps (docs/disruptions.md), read by ``booking.disruption_selectors``, with the
viewer's delay compensation from ``payments.selectors``."""

from django import template

from booking.disruption_selectors import trip_banners
from payments.selectors import delay_compensations_view

register = template.Library()


@register.simple_tag(takes_context=True)
def trip_disruptions(context, trip):
    request = context.get("request")
    user = getattr(request, "user", None)
    banners = trip_banners(trip=trip, user=user)
    # A late train: the viewer's compensation, or how they want it (to the card or as
    # credit on a next trip), from payments (booking knows nothing of the money).
    compensations = delay_compensations_view(
        user=user, trip_id=trip.pk, disruptions=[b.disruption for b in banners]
    )
    for banner in banners:
        banner.compensation = compensations.get(banner.disruption.pk)
    return banners
