"""What the live plan does when a friend group changes (``groups.signals.group_changed``,
sent after the group's transaction committed): each of the group's trips gets an event
(the members' pages update), and on a trip still being planned a traveller who left or
was removed lets go of their held seats in the same transaction."""

from django.db import transaction
from django.utils import timezone

from booking.errors import TicketStillValid
from booking.models import AllocationState, SeatAllocation, Ticket, Trip

RELEASES_SEATS = {"member_left", "member_removed", "member_anonymised"}


def on_group_changed(sender, *, group_id: int, kind: str, user_id: int | None, **kwargs) -> None:
    from booking.plan import holds_release, record

    with transaction.atomic():
        # Every trip of the group hears it (a trip being paid for or booked too: its
        # members' pages follow who is gone at once); only a trip still being planned
        # lets go of the person's held seats (a checkout's seats are its policy's).
        trips = list(
            Trip.objects.select_for_update()
            .filter(group_id=group_id)
            .exclude(status=Trip.Status.CANCELLED)
            .order_by("pk")
        )
        for trip in trips:
            released = []
            planning = trip.status == Trip.Status.PLANNING
            if planning and kind in RELEASES_SEATS and user_id is not None:
                released = holds_release(
                    SeatAllocation.objects.filter(
                        leg__trip=trip, user_id=user_id, state=AllocationState.HELD
                    )
                )
            record(trip, kind, {"user_id": user_id, "released": released})


def on_membership_ending(sender, *, group_id: int, user_id: int, kind: str, **kwargs) -> None:
    """``groups.signals.membership_ending``: a traveller holding a valid ticket for a train
    still to come stays one until the ticket is cancelled (``TicketStillValid``)."""
    if Ticket.objects.filter(
        booking__trip__group_id=group_id,
        traveller_id=user_id,
        state=Ticket.State.VALID,
        leg__departure__departs_at__gt=timezone.now(),
    ).exists():
        raise TicketStillValid()
