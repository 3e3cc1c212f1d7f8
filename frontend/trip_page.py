"""The trip page (``frontend/trips/detail.html``) as every door that shows it renders it:
who may see it (``trip_view``), its context for the viewer (the members, the invite panel,
the live plan's data, the checkout and the tickets) and the page itself (``render_trip``).

The trip views (``views_trips``) and the pay views (``views_pay``) both answer with this
page (a refusal on the page, the checkout's start), so it is a module of its own that
imports neither.
"""

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import segno
from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import mark_safe
from django.utils.translation import gettext as _

from booking import plan_selectors
from booking import selectors as booking_selectors
from booking.errors import TripNotFound
from booking.tickets import ticket_signed_code
from core.errors import DomainError
from core.l10n import format_span
from frontend.forms import GroupSettingsForm, privacy_choices
from groups import selectors as group_selectors
from groups.errors import InvitationExpired, InvitationRevoked, InvitationUsedUp
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.models import Checkout

# --- Reading ------------------------------------------------------------------------------


def trip_view(request, trip_id: int):
    try:
        return booking_selectors.trip_get_for(user=request.user, trip_id=trip_id)
    except TripNotFound as exc:
        raise Http404(str(exc.message)) from exc


@dataclass(frozen=True)
class InvitationRow:
    invitation: object
    status: str  # active, expired, revoked, used_up

    @property
    def is_active(self) -> bool:
        return self.status == "active"


def _invitation_status(invitation) -> str:
    # The selector's own validity check decides, so the list and the join page agree.
    try:
        group_selectors.invitation_validate(invitation)
    except InvitationRevoked:
        return "revoked"
    except InvitationExpired:
        return "expired"
    except InvitationUsedUp:
        return "used_up"
    return "active"


def _friend_suggestions(request, group_id: int):
    """Facebook friends who use the app, or None when that is not available.

    ``groups.friends`` is imported here, lazily: the page works without it (and without
    Facebook) and simply shows no suggestions.
    """
    try:
        from groups.friends import facebook_friend_suggestions
    except ImportError:
        return None
    try:
        return facebook_friend_suggestions(user=request.user, group_id=group_id)
    except DomainError:
        return None


def _share_links(request, *, link: str, trip) -> dict:
    """Where the new link can be sent: each a plain link (no popup, no SDK)."""
    trip_url = request.build_absolute_uri(reverse("trip", args=[trip.pk]))
    message = _("Join our trip “%(title)s” on Sidebyside:") % {"title": trip.title}
    links = {
        "whatsapp": "https://wa.me/?" + urlencode({"text": f"{message} {link}"}),
        # mailto: wants %20 for spaces, not the + of a form.
        "email": "mailto:?subject={}&body={}".format(
            quote(_("Join our trip: %(title)s") % {"title": trip.title}),
            quote(f"{message}\n\n{link}"),
        ),
        "messenger_app": "fb-messenger://share?" + urlencode({"link": link}),
        "messenger_web": "",
        "message": message,
    }
    # The Send dialog needs a real Facebook app; the local sandbox has no such dialog.
    if settings.FACEBOOK_APP_ID and not settings.FACEBOOK_SANDBOX:
        links["messenger_web"] = (
            settings.FACEBOOK_DIALOG_URL.rstrip("/")
            + "/dialog/send?"
            + urlencode(
                {"app_id": settings.FACEBOOK_APP_ID, "link": link, "redirect_uri": trip_url}
            )
        )
    return links


def render_trip(
    request,
    trip_id: int,
    *,
    status: int = 200,
    error: str = "",
    new_link: str = "",
    settings_form: GroupSettingsForm | None = None,
    error_code: str = "",
    field_errors: dict | None = None,
    checkout_error: str = "",
):
    """``checkout_error``: a refused start of the checkout, shown in its own dialog (where
    the organiser acted), which is then open."""
    view = trip_view(request, trip_id)
    access, group, trip = view.access, view.group, view.trip
    members_can_invite = settings.SIDEBYSIDE["MEMBERS_CAN_INVITE"]
    can_invite = access.is_organiser or (access.is_member and members_can_invite)
    context = {
        "trip": trip,
        "group": group,
        "access": access,
        "error": error,
        "error_code": error_code,
        "checkout_error": checkout_error,
        "field_errors": field_errors or {},
        "can_invite": can_invite,
        "members": [],
        "pending": [],
        "new_link": new_link,
        "share": _share_links(request, link=new_link, trip=trip) if new_link else None,
        "invitations": [],
        "friends": None,
        "settings_form": None,
    }
    if access.is_member:
        members = group_selectors.group_members(
            group=group, viewer=request.user, include_pending=access.is_organiser
        )
        context["members"] = [m for m in members if m.status == "active"]
        context["pending"] = [m for m in members if m.status == "pending"]
        context["member_count"] = len(context["members"])
    else:
        counts = booking_selectors.trip_member_counts(group_ids=[group.pk])
        context["member_count"] = counts.get(group.pk, 0)
    context["spots_left"] = max(group.max_members - context["member_count"], 0)
    if can_invite:
        invitations = group_selectors.group_invitations(group=group)
        if not access.is_organiser:  # a member sees the invitations they made
            invitations = [i for i in invitations if i.created_by_id == request.user.pk]
        context["invitations"] = [InvitationRow(i, _invitation_status(i)) for i in invitations]
        # Being paid for or booked: no link admits anyone, no new one is made.
        closed = trip.status in booking_selectors.CLOSED_TO_JOINERS or (
            booking_selectors.trip_closed_to_joiners(group_id=group.pk) is not None
        )
        context["invites_closed"] = closed
        context["friends"] = None if closed else _friend_suggestions(request, group.pk)
    if access.is_member:
        context.update(_plan_context(request, trip))
        context.update(checkout_context(request, trip, context))
    if access.is_organiser:
        form = settings_form or GroupSettingsForm(
            initial={
                "privacy": group.privacy,
                "requires_approval": group.requires_approval,
                "max_members": group.max_members,
            }
        )
        context["settings_form"] = form
        context["privacy_choices"] = privacy_choices(form["privacy"].value())
    return render(request, "frontend/trips/detail.html", context, status=status)


# --- The live plan (its data; plan.js keeps it live over the websocket) -----------------------

# How many days of a leg's window the organiser's "Propose trains" list covers.
PROPOSE_MAX_DAYS = 7


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _plan_departure(data: dict | None) -> dict | None:
    if not data:
        return None
    return {**data, "departs": _when(data["departs_at"]), "arrives": _when(data["arrives_at"])}


def _propose_choices(trip, *, direction: str) -> list[dict]:
    """The trains the organiser may put to the vote: the leg's route, each day of its
    window (the first PROPOSE_MAX_DAYS), through the same search as the home page."""
    outbound = direction == "outbound"
    origin, destination = (
        (trip.origin, trip.destination) if outbound else (trip.destination, trip.origin)
    )
    first = trip.outbound_from if outbound else trip.return_from
    last = (trip.outbound_to if outbound else trip.return_to) or first
    days = []
    day = first
    while day and day <= last and len(days) < PROPOSE_MAX_DAYS:
        try:
            found = booking_selectors.departure_search(
                origin_code=origin.code, destination_code=destination.code, on_date=day
            )
        except DomainError:
            found = []
        if found:
            days.append({"day": day, "departures": found})
        day += dt.timedelta(days=1)
    return days


def _fare_shown(fare: dict | None, fare_classes, passenger_types, cards) -> dict | None:
    """Another traveller's fare as the travellers list shows it (names, not codes), from
    the snapshot, which holds it only when they show their details."""
    if not fare:
        return None

    def name(rows, code):
        return next((row.name for row in rows if row.code == code), "")

    return {
        "fare": name(fare_classes, fare["fare_class"]),
        "passenger": name(passenger_types, fare["passenger_type"]),
        "card": name(cards, fare["card"]) if fare["card"] else "",
        "age": fare["age"],
        "price": fare.get("price"),
    }


def _plan_context(request, trip) -> dict:
    """The plan as the viewer may see it (``plan_snapshot``, also embedded as JSON for
    plan.js), the leg on screen (``?leg=``), and the seat map of its settled train, else
    of the option asked for (``?show=``), else of its first option."""
    snapshot = plan_selectors.plan_snapshot(user=request.user, trip_id=trip.pk)
    me = snapshot["me"]["user_id"]
    members = {m["user_id"]: m for m in snapshot["members"]}
    legs = snapshot["legs"]
    if not legs:
        return {"plan": snapshot, "plan_leg": None}
    leg = next((x for x in legs if x["direction"] == request.GET.get("leg")), legs[0])
    option_ids = [o["departure"]["id"] for o in leg["options"]]
    if leg["departure"]:
        shown_id = leg["departure"]["id"]
    else:
        try:
            asked = int(request.GET.get("show", ""))
        except ValueError:
            asked = None
        shown_id = asked if asked in option_ids else (option_ids[0] if option_ids else None)
    my_fare = leg["fares"].get(str(me))
    options = []
    for option in leg["options"]:
        options.append(
            {
                "departure": _plan_departure(option["departure"]),
                "voters": [members[uid] for uid in option["votes"] if uid in members],
                "my_vote": me in option["votes"],
                "my_price": option["prices"].get(str(me)),
                "price_from": option["price_from"],
                "shown": option["departure"]["id"] == shown_id,
            }
        )
    holders = {}
    seat_of = {}
    for hold in leg["seats"]:
        member = members.get(hold["user_id"])
        if hold["departure_id"] != shown_id or member is None:
            continue
        holders[hold["seat_id"]] = {**member, "is_me": hold["user_id"] == me}
        seat_of[hold["user_id"]] = hold["label"]
    fare_classes = booking_selectors.fare_class_list()
    passenger_types = booking_selectors.passenger_type_list()
    cards = booking_selectors.discount_card_list()
    travellers = [
        {
            **m,
            "is_me": m["user_id"] == me,
            "seat": seat_of.get(m["user_id"], ""),
            # The snapshot holds another's fare only when they show it to the group.
            "details": _fare_shown(
                leg["fares"].get(str(m["user_id"])), fare_classes, passenger_types, cards
            )
            if m["user_id"] != me
            else None,
        }
        for m in snapshot["members"]
    ]
    outbound = leg["direction"] == "outbound"
    is_organiser = snapshot["me"]["role"] == "organiser"
    seatmap = booking_selectors.departure_detail(departure_id=shown_id) if shown_id else None
    coaches, coach = _coach_strip(
        request,
        seatmap,
        holders=holders,
        me=me,
        comfort=(my_fare or {}).get("comfort_class"),
    )
    editable = trip.status == "planning"
    fare_classes = booking_selectors.fare_class_list()
    holds = None
    if editable and seatmap:
        # How long the group's seats are held, and whether they lapsed (issue 22, point 5).
        holds = plan_selectors.holds_state(trip_id=trip.pk, leg=leg["direction"])
        holds["idle"] = format_span(holds["idle_seconds"])
    return_leg = next((x for x in legs if x["direction"] == "return"), None)
    return {
        # The outbound's passenger type, age and card go to the return leg too while it has
        # none (booking.plan.fare_choose), or are already the same there: the form says so.
        "plan_fare_carries": outbound
        and return_leg is not None
        and _same_traveller(my_fare, return_leg["fares"].get(str(me))),
        "plan_editable": editable,
        "plan_holds": holds,
        # The organiser's options have "Choose this train" in their row of buttons.
        "plan_editable_organiser": editable and is_organiser,
        "plan_coaches": coaches,
        "plan_coach": coach,
        "plan": snapshot,
        "plan_leg": leg,
        "plan_outbound": outbound,
        "plan_from": trip.origin if outbound else trip.destination,
        "plan_to": trip.destination if outbound else trip.origin,
        "plan_settled": _plan_departure(leg["departure"]),
        "plan_options": options,
        "plan_shown_id": shown_id,
        "plan_seatmap": seatmap,
        "plan_holders": holders,
        "plan_travellers": travellers,
        "plan_my_fare": my_fare,
        "plan_fare_classes": fare_classes,
        # Until I choose, the form shows the fare a seat would give me (second class first).
        "plan_fare_shown": (my_fare or {}).get("fare_class")
        or next((f.code for f in fare_classes if f.comfort_class == "second"), ""),
        "plan_passenger_types": passenger_types,
        "plan_cards": cards,
        "plan_propose": _propose_choices(trip, direction=leg["direction"])
        if is_organiser and editable and not leg["departure"]
        else None,
    }


def _same_traveller(outbound_fare: dict | None, return_fare: dict | None) -> bool:
    if return_fare is None:
        return True
    keys = ("passenger_type", "age", "card", "card_number_end")
    return outbound_fare is not None and all(
        outbound_fare.get(k) == return_fare.get(k) for k in keys
    )


def _id_ranges(ids) -> str:
    """Seat ids written short for plan.js ("101-172,180"): it tells which coach a seat of a
    ``seats`` frame is in, to keep the strip's free counts live (a coach's seats are
    usually one run of ids)."""
    runs: list[list[int]] = []
    for seat_id in sorted(ids):
        if runs and seat_id == runs[-1][1] + 1:
            runs[-1][1] = seat_id
        else:
            runs.append([seat_id, seat_id])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _coach_strip(request, seatmap, *, holders: dict, me: int, comfort: str | None):
    """The seat map shows one coach at a time: the strip of every coach (its free seats,
    the friends on it) and the coach on screen: the one asked for (``?coach=``), else my
    seat's, else the one most of the group sits in, else the first with a free seat of my
    class (any class before I choose a fare)."""
    if seatmap is None or not seatmap.coaches:
        return [], None
    strip = []
    for coach in seatmap.coaches:
        seats = [view for deck in coach.decks for view in deck.seats]
        friends = [holders[v.seat.pk] for v in seats if v.seat.pk in holders]
        strip.append(
            {
                "coach": coach,
                "number": coach.number,
                "free": sum(1 for v in seats if v.status == "free" and v.seat.pk not in holders),
                "free_mine": sum(
                    1
                    for v in seats
                    if v.status == "free"
                    and v.seat.pk not in holders
                    and (comfort is None or v.seat.comfort_class == comfort)
                ),
                "friends": friends,
                "has_me": any(f["is_me"] for f in friends),
                "seat_ids": _id_ranges(v.seat.pk for v in seats),
            }
        )
    try:
        asked = int(request.GET.get("coach", ""))
    except ValueError:
        asked = None
    chosen = (
        next((c for c in strip if c["number"] == asked), None)
        or next((c for c in strip if c["has_me"]), None)
        or max(strip, key=lambda c: len(c["friends"]) if c["friends"] else -1)
    )
    if not chosen["friends"] and asked is None:
        # Before a fare is chosen, the default one is second class (plan._default_fare's
        # cheapest class): a coach of that class first.
        wanted = comfort or "second"
        chosen = (
            next(
                (c for c in strip if c["free_mine"] and wanted in c["coach"].comfort_classes), None
            )
            or next((c for c in strip if c["free_mine"]), None)
            or strip[0]
        )
    for item in strip:
        item["current"] = item is chosen
    return strip, chosen["coach"]


# --- The checkout and the tickets ------------------------------------------------------

# (value, label): the label is the choice's translatable name, not its value.
POLICIES = Checkout.Policy.choices


# --- Tickets ---------------------------------------------------------------------------------


def ticket_qr_svg(text: str) -> str:
    """The QR code of ``text`` as inline SVG (no image request, crisp at any size)."""
    qr = segno.make(text, error="m")
    return qr.svg_inline(scale=4, border=2, dark="#111", light="#fff", omitsize=True)


def ticket_rows(request, tickets) -> list[dict]:
    now = timezone.now()
    tickets = list(tickets)
    # A late train's compensation (paid to the card or credited), one query for them all.
    compensations = payment_selectors.ticket_compensations(ticket_ids=[t.pk for t in tickets])
    rows = []
    for ticket in tickets:
        signed = ticket_signed_code(ticket)
        departure = ticket.allocation.departure
        seat = ticket.allocation.seat
        rows.append(
            {
                "ticket": ticket,
                "departure": departure,
                "coach": seat.coach.number,
                "seat": seat.number,
                "seat_name": seat.name,
                "signed": signed,
                "verify_url": reverse("ticket_check", args=[signed]),
                "compensation": compensations.get(ticket.pk),
                # Only a valid ticket whose train has not left may be given up.
                "cancel_url": reverse("ticket_cancel", args=[ticket.pk])
                if ticket.state == "valid" and departure.departs_at > now
                else "",
                # The SVG is made here from our own code: nothing of the user's in it.
                "qr": mark_safe(ticket_qr_svg(signed)),  # noqa: S308
            }
        )
    return rows


# --- The trip page's part ------------------------------------------------------------------


def checkout_context(request, trip, context: dict) -> dict:
    """What ``plan/_checkout.html`` shows on the trip page of an active traveller: the
    organiser's start form while every leg has its train, else the checkout (everyone's
    status, the viewer's pay link) and, once booked, the viewer's tickets."""
    checkout = payment_selectors.checkout_current(trip_id=trip.pk)
    access = context.get("access")
    if checkout is None:
        legs = (context.get("plan") or {}).get("legs") or []
        can_start = bool(
            access is not None
            and access.is_organiser
            and trip.status == "planning"
            and legs
            and all(leg["departure"] for leg in legs)
        )
        return {
            "checkout": None,
            "checkout_can_start": can_start,
            "checkout_hours": settings.SIDEBYSIDE["PAYMENT_DEADLINE_HOURS_DEFAULT"],
            "checkout_hours_min": settings.SIDEBYSIDE["PAYMENT_DEADLINE_HOURS_MIN"],
            "checkout_hours_max": settings.SIDEBYSIDE["PAYMENT_DEADLINE_HOURS_MAX"],
            "checkout_policies": POLICIES,
        }
    page = payment_selectors.checkout_page(checkout=checkout, viewer=request.user)
    pay_url = ""
    if page.mine is not None:
        token = payment_services.pay_link_token(checkout=checkout, payer=request.user)
        pay_url = reverse("pay", args=[token])
    tickets = payment_selectors.traveller_tickets(checkout=checkout, traveller=request.user)
    return {
        "checkout": checkout,
        "checkout_page": page,
        "checkout_standing": payment_selectors.travel_standing(user=request.user, trip_id=trip.pk),
        "checkout_pay_url": pay_url,
        "checkout_tickets": ticket_rows(request, tickets),
    }
