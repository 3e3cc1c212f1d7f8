from django import template
from django.conf import settings

from referrals.images import image_lines
from referrals.selectors import share_panel_get
from referrals.share_targets import (
    incentive_disclosure,
    messenger_desktop_available,
    share_text,
)

register = template.Library()


@register.simple_tag(takes_context=True)
def share_panel(context, trip):
    """The "Share your trip" panel's data for the viewer, or None when they may not
    share (not an active traveller, or the trip not booked)."""
    request = context.get("request")
    panel = share_panel_get(trip=trip, user=getattr(request, "user", None))
    if panel is None:
        return None
    return {
        "landing": panel.landing,
        "lines": image_lines(panel.landing),
        "copy_url": request.build_absolute_uri(panel.copy_url) if panel.copy_url else "",
        "text": share_text(panel.landing),
        "messenger_desktop": messenger_desktop_available(),
        "disclosure": incentive_disclosure() if settings.REFERRALS["INCENTIVE"] else "",
    }
