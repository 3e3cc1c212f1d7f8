"""The e-mails of ``booking`` (registered with the outbox in ``booking.apps``): the
train chosen (news of the plan, not essential: it follows the person's preference), the
booking confirmed (each of my tickets with its QR code, and a calendar invitation) and a
ticket cancelled with its refund. Each renders one traveller's own tickets only.

The train chosen and the booking confirmed are also pushed (``*_push``: a title, a line,
the trip's page) to those who turned notifications on and are not on the trip's page."""

import datetime as dt
import io
import zoneinfo

import icalendar
import segno
from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from booking.models import Booking, Ticket, Trip, TripEvent, TripLeg
from booking.plan_selectors import holds_state
from booking.tickets import ticket_signed_code
from core.l10n import format_moment, format_span, format_time_of_day, seat_name
from core.site import site_url
from groups.selectors import user_display_name
from notices.emails import email_render, unsubscribe_url
from notices.kinds import Push


def _site() -> str:
    return site_url()


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
        "seat_name": seat_name(seat.coach.number, seat.number),
        "departs": format_moment(departs, year=True),
        "arrives": format_time_of_day(arrives),
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
            f"{departure.service_number} · {seat_name(seat.coach.number, seat.number)}\n{trip_url}",
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
            "departs": format_moment(_local(departure.departs_at, departure.origin), year=True),
            "trip_url": _site() + reverse("trip", args=[leg.trip_id]),
            "unsubscribe_url": unsubscribe_url(message.recipient_id),
        },
    )


def _lapse(message):
    """The ``holds_expired`` event of a lapse, while the group still has no seat (a seat
    taken again before the message went: nothing to tell, dropped)."""
    event = TripEvent.objects.filter(pk=message.object_id).select_related("trip").first()
    if event is None or event.trip.status != Trip.Status.PLANNING:
        return None
    legs = {r.get("leg") for r in event.payload.get("released", [])}
    if not all(holds_state(trip_id=event.trip_id, leg=leg)["lapsed"] for leg in legs):
        return None
    return event


def holds_lapsed(message):
    """The group's held seats ran out with nobody of them on the page (not essential)."""
    event = _lapse(message)
    if event is None:
        return None
    return email_render(
        "booking/email/holds_lapsed",
        {
            "trip_title": event.trip.title,
            "idle": format_span(settings.SIDEBYSIDE["HOLD_IDLE_SECONDS"]),
            "trip_url": _trip_url(event.trip_id),
            "unsubscribe_url": unsubscribe_url(message.recipient_id),
        },
    )


def holds_lapsed_push(message):
    event = _lapse(message)
    if event is None:
        return None
    return Push(
        title=_("%(trip)s: your seats were released") % {"trip": event.trip.title},
        body=_("Open the trip and tap “Sit us together again”."),
        url=_trip_url(event.trip_id),
    )


def _trip_url(trip_id: int) -> str:
    return _site() + reverse("trip", args=[trip_id])


def booking_confirmed_push(message):
    booking = Booking.objects.filter(pk=message.object_id).select_related("trip").first()
    tickets = _tickets(message.object_id, message.recipient_id) if booking else []
    if not tickets:
        return None
    # The seat's one name, as on the page and the ticket ("Coach 2, seat 14"; it holds a
    # comma, so two seats, outbound and return, are set apart by a semicolon).
    seats = "; ".join(
        seat_name(t.allocation.seat.coach.number, t.allocation.seat.number) for t in tickets
    )
    return Push(
        title=_("%(trip)s: booked!") % {"trip": booking.trip.title},
        body=_("Your tickets are ready: %(seats)s.") % {"seats": seats},
        url=_trip_url(booking.trip_id),
    )


def train_chosen_push(message):
    leg = (
        TripLeg.objects.filter(pk=message.object_id)
        .select_related("trip", "departure__origin", "departure__destination")
        .first()
    )
    if leg is None or leg.departure is None:
        return None
    departure = leg.departure
    return Push(
        title=_("%(trip)s: the train is chosen") % {"trip": leg.trip.title},
        body=_("%(train)s %(origin)s → %(destination)s, %(departs)s. Pick your seat.")
        % {
            "train": departure.service_number,
            "origin": departure.origin.name,
            "destination": departure.destination.name,
            "departs": format_moment(_local(departure.departs_at, departure.origin), year=True),
        },
        url=_trip_url(leg.trip_id),
    )


def disruption(message):
    """The four messages of a disruption (``booking.disruptions``), about one
    ``DisruptedTrip`` item: the train cancelled (the choice and its deadline), the
    organiser asked to choose again, the train late, the vehicle changed. Renders
    nothing once the trip has moved on (cancelled)."""
    from booking.models import DisruptedTrip, DisruptionChoice

    item = (
        DisruptedTrip.objects.filter(pk=message.object_id)
        .select_related(
            "trip",
            "disruption__departure__origin",
            "disruption__departure__destination",
            "disruption__new_vehicle",
        )
        .first()
    )
    if item is None or item.trip.status == item.trip.Status.CANCELLED:
        return None
    disruption = item.disruption
    departure = disruption.departure
    choice = (
        DisruptionChoice.objects.filter(
            disruption=disruption,
            traveller_id=message.recipient_id,
            ticket__booking__trip=item.trip,
        )
        .order_by("pk")
        .first()
    )
    arrival = disruption.actual_arrival_at or disruption.expected_arrival_at
    return email_render(
        "booking/email/disruption",
        {
            "what": message.kind.rsplit(".", 1)[1],
            "trip_title": item.trip.title,
            "departure": departure,
            "departs": format_moment(_local(departure.departs_at, departure.origin), year=True),
            "arrival": format_time_of_day(_local(arrival, departure.destination))
            if arrival
            else "",
            "delay_minutes": disruption.delay_minutes,
            "reason": disruption.reason,
            "choose_by": format_moment(_local(choice.choose_by, departure.origin), year=True)
            if choice
            else "",
            "trip_url": _site() + reverse("trip", args=[item.trip_id]),
        },
    )


def disruption_push(message):
    """The same four moments as a push to those who turned notifications on: what happened
    to the train, and the trip's page for what to do (no amount)."""
    from booking.models import DisruptedTrip

    item = (
        DisruptedTrip.objects.filter(pk=message.object_id)
        .select_related("trip", "disruption__departure")
        .first()
    )
    if item is None or item.trip.status == item.trip.Status.CANCELLED:
        return None
    train = {"train": item.disruption.departure.service_number}
    trip = {"trip": item.trip.title}
    title, body = {
        "train_cancelled": (
            _("Train %(train)s is cancelled") % train,
            _("%(trip)s: choose a full refund or another train at no extra cost.") % trip,
        ),
        "choose_again": (
            _("Train %(train)s is cancelled") % train,
            _("%(trip)s: the chosen train will not run. Choose another one.") % trip,
        ),
        "train_delayed": (
            _("Train %(train)s is running late") % train,
            _("%(trip)s: the expected arrival is on the trip's page.") % trip,
        ),
        "vehicle_swapped": (
            _("Train %(train)s: your seats have changed") % train,
            _("%(trip)s: you sit together on the new train where possible.") % trip,
        ),
    }[message.kind.rsplit(".", 1)[1]]
    return Push(title=title, body=body, url=_trip_url(item.trip_id))
