"""``{% joining_trip as joining %}``: on the sign-up and login pages, the trip the person
is about to join when they came from an invitation link (``?next=/join/<token>/``), so the
page can say which; None otherwise, or when the link is not valid (the join page says why
once they are back on it). Reads through the same selectors as the join page."""

from django import template
from django.urls import Resolver404, resolve

from booking import selectors as booking_selectors
from core.errors import DomainError
from groups import selectors as group_selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def joining_trip(context):
    request = context.get("request")
    target = request.GET.get("next", "") if request is not None else ""
    if not target.startswith("/join/"):
        return None
    try:
        match = resolve(target.split("?", 1)[0])
    except Resolver404:
        return None
    if match.url_name != "join":
        return None
    try:
        invitation = group_selectors.invitation_check(token=match.kwargs["token"])
    except DomainError:
        return None
    trips = booking_selectors.group_trips(group_id=invitation.group_id)
    trip = trips[0] if trips else None
    return {"title": trip.title if trip else invitation.group.name, "trip": trip}
