"""Ticket codes: what a ticket's QR code carries, and the check an inspector runs.

The QR code holds the ticket's random ``code`` signed with ``django.core.signing`` (salt
``ticket``): ``<code>:<signature>``, short enough for a small QR code. A forged or
mistyped one fails the signature (``TicketCodeInvalid``, 400); a genuine one whose ticket
is gone is ``TicketNotFound`` (404); a cancelled ticket is found but not valid.
"""

import datetime as dt
from dataclasses import dataclass

from django.core import signing

from booking.errors import TicketCodeInvalid, TicketNotFound
from booking.models import Ticket
from groups.selectors import user_display_name

SALT = "ticket"


def ticket_signed_code(ticket: Ticket) -> str:
    return signing.Signer(salt=SALT).sign(ticket.code)


@dataclass(frozen=True)
class TicketCheck:
    valid: bool
    code: str
    traveller: str
    train: str
    departs_at: str
    origin: str
    destination: str
    seat: str
    leg: str
    state: str
    # For the page a person reads (the scanner's JSON keeps the fields above).
    departs: dt.datetime | None = None
    origin_time_zone: str = "UTC"  # the departure is written on the station's clock
    coach: int = 0
    seat_number: int = 0


def ticket_verify(*, signed: str) -> TicketCheck:
    """What an inspector sees for a scanned code (anyone may ask: the code is the secret)."""
    try:
        code = signing.Signer(salt=SALT).unsign(signed)
    except signing.BadSignature:
        raise TicketCodeInvalid() from None
    ticket = (
        Ticket.objects.select_related(
            "traveller",
            "leg",
            "allocation__seat__coach",
            "allocation__departure__origin",
            "allocation__departure__destination",
        )
        .filter(code=code)
        .first()
    )
    if ticket is None:
        raise TicketNotFound()
    departure = ticket.allocation.departure
    return TicketCheck(
        valid=ticket.state == Ticket.State.VALID,
        code=ticket.code,
        traveller=user_display_name(user=ticket.traveller),
        train=departure.service_number,
        departs_at=departure.departs_at.isoformat(),
        origin=departure.origin.name,
        destination=departure.destination.name,
        seat=ticket.allocation.seat.label,
        leg=ticket.leg.direction,
        state=ticket.state,
        departs=departure.departs_at,
        origin_time_zone=departure.origin.time_zone,
        coach=ticket.allocation.seat.coach.number,
        seat_number=ticket.allocation.seat.number,
    )
