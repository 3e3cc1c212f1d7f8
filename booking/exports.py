"""booking's section of "Download my data" (``groups.exports``): the trips of the groups
the person is or was in, with their role. Registered in ``BookingConfig.ready()``."""

from booking.models import Trip
from groups.models import Membership


def _when(value) -> str | None:
    return value.isoformat() if value is not None else None


def trips_export(user) -> list[dict]:
    """Two queries whatever the number of trips."""
    memberships = {
        membership.group_id: membership
        for membership in Membership.objects.filter(user=user).select_related("group")
    }
    trips = (
        Trip.objects.filter(group_id__in=memberships)
        .select_related("origin", "destination", "event")
        .order_by("outbound_from", "pk")
    )
    return [
        {
            "title": trip.title,
            "group": memberships[trip.group_id].group.name,
            "from": {"code": trip.origin.code, "name": trip.origin.name},
            "to": {"code": trip.destination.code, "name": trip.destination.name},
            "event": trip.event.name if trip.event else None,
            "outbound_from": _when(trip.outbound_from),
            "outbound_to": _when(trip.outbound_to),
            "return_from": _when(trip.return_from),
            "return_to": _when(trip.return_to),
            "status": trip.status,
            "role": memberships[trip.group_id].role,
            "membership_status": memberships[trip.group_id].status,
        }
        for trip in trips
    ]
