"""The e-mails of ``booking`` (registered with the outbox in ``booking.apps``): the
train chosen (news of the plan, not essential: it follows the person's preference), the
booking confirmed (each of my tickets with its QR code, and a calendar invitation) and a
ticket cancelled with its refund. Each renders one traveller's own tickets only."""

import datetime as dt
import io
import zoneinfo

import icalendar
import segno
from django.conf import settings
from django.urls import reverse
from django.utils import formats

from booking.models import Booking, Ticket, TripLeg
from booking.tickets import ticket_signed_code
from groups.selectors import user_display_name
from notices.emails import email_render, unsubscribe_url


def _site() -> str:
    return settings.SIDEBYSIDE["SITE_URL"].rstrip("/")


def _local(moment: dt.datetime, station) -> dt.datetime:
    """A time as the station's clock shows it (a ticket, a calendar)."""
    return moment.astimezone(zoneinfo.ZoneInfo(station.time_zone))


def _tickets(booking_id: int, traveller_id: int):
    return list(
        Ticket.objects.filter(
            booking_id=booking_id, traveller_id=traveller_id, state=Ticket.State.VALID
        )
        .select_related(
            "traveller",
            "leg",
            "allocation__seat__coach",
            "allocation__departure__origin",
            "allocation__departure__destination",
        )
        .order_by("allocation__departure__departs_at", "pk")
    )


def _ticket_view(ticket: Ticket) -> dict:
    departure = ticket.allocation.departure
    seat = ticket.allocation.seat
    departs = _local(departure.departs_at, departure.origin)
    arrives = _local(departure.arrives_at, departure.destination)
    return {
        "ticket": ticket,
        "departure": departure,
        "coach": seat.coach.number,
        "seat": seat.number,
        "departs": formats.date_format(departs, "DATETIME_FORMAT"),
        "arrives": formats.date_format(arrives, "TIME_FORMAT"),
        "qr_id": f"qr-{ticket.code}",
    }


def _qr_png(ticket: Ticket) -> bytes:
    """The ticket's QR code (its signed code, as on the ticket page) as a PNG: e-mail
    clients show inline PNG images, not SVG."""
    out = io.BytesIO()
    segno.make(ticket_signed_code(ticket), error="m").save(out, kind="png", scale=6, border=2)
    return out.getvalue()


def _calendar(tickets: list[Ticket], trip_url: str) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Sidebyside//tickets//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    for ticket in tickets:
        departure, seat = ticket.allocation.departure, ticket.allocation.seat
        event = icalendar.Event()
        event.add("uid", f"ticket-{ticket.code}@sidebyside")
        event.add("dtstamp", ticket.created_at)
        event.add(
            "summary",
            f"{departure.service_number} {departure.origin.name} → {departure.destination.name}",
        )
        event.add("dtstart", _local(departure.departs_at, departure.origin))
        event.add("dtend", _local(departure.arrives_at, departure.destination))
        event.add("location", departure.origin.name)
        event.add(
            "description",
            f"{departure.service_number} · {seat.coach.number} / {seat.number}\n{trip_url}",
        )
        event.add("url", trip_url)
        calendar.add_component(event)
    return calendar.to_ical()


def booking_confirmed(message):
    booking = Booking.objects.filter(pk=message.object_id).select_related("trip").first()
    tickets = _tickets(message.object_id, message.recipient_id) if booking else []
    if not tickets:
        return None
    trip_url = _site() + reverse("trip", args=[booking.trip_id])
    views = [_ticket_view(ticket) for ticket in tickets]
    images = [(view["qr_id"], _qr_png(view["ticket"]), "image/png") for view in views]
    return email_render(
        "booking/email/booking_confirmed",
        {
            "name": user_display_name(user=tickets[0].traveller),
            "trip_title": booking.trip.title,
            "tickets": views,
            "trip_url": trip_url,
        },
        inline_images=images,
        attachments=[("trip.ics", _calendar(tickets, trip_url), "text/calendar")],
    )


def ticket_cancelled(message):
    ticket = (
        Ticket.objects.filter(pk=message.object_id, traveller_id=message.recipient_id)
        .select_related(
            "traveller",
            "booking__trip",
            "allocation__seat__coach",
            "allocation__departure__origin",
            "allocation__departure__destination",
        )
        .first()
    )
    if ticket is None or ticket.state != Ticket.State.CANCELLED:
        return None
    return email_render(
        "booking/email/ticket_cancelled",
        {
            "name": user_display_name(user=ticket.traveller),
            "trip_title": ticket.booking.trip.title,
            **_ticket_view(ticket),
            "trip_url": _site() + reverse("trip", args=[ticket.booking.trip_id]),
        },
    )


def train_chosen(message):
    leg = (
        TripLeg.objects.filter(pk=message.object_id)
        .select_related("trip", "departure__origin", "departure__destination")
        .first()
    )
    if leg is None or leg.departure is None:
        return None
    departure = leg.departure
    return email_render(
        "booking/email/train_chosen",
        {
            "trip_title": leg.trip.title,
            "leg": leg.get_direction_display(),
            "departure": departure,
            "departs": formats.date_format(
                _local(departure.departs_at, departure.origin), "DATETIME_FORMAT"
            ),
            "trip_url": _site() + reverse("trip", args=[leg.trip_id]),
            "unsubscribe_url": unsubscribe_url(message.recipient_id),
        },
    )
