"""The trip pages: my trips, plan a trip, the trip page with its invite panel, joining by
link, an event's public trips.

Thin like the other views: they read through ``booking.selectors`` and
``groups.selectors``, write through the services, and turn a domain error into a message
on the page with the error's status code (never a 500). The rules (who may invite, approve,
join, how many travellers) are the services'.

An invitation's secret token exists only in the answer to the POST that created it: that
answer renders the trip page with the link once. It is never stored, not even in the
session (which lives in the database).
"""

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from booking import plan, plan_selectors
from booking import selectors as booking_selectors
from booking import services as booking_services
from booking.errors import EventNotFound, TripNotFound
from core.errors import DomainError
from frontend import views_pay
from frontend.forms import (
    GroupSettingsForm,
    TripCreateForm,
    form_add_domain_error,
    privacy_choices,
)
from groups import selectors as group_selectors
from groups import services as group_services
from groups.errors import (
    GroupNotFound,
    InvitationExpired,
    InvitationNotFound,
    InvitationRevoked,
    InvitationUsedUp,
)
from groups.ratelimits import rate_limit

# The refusals of a link itself (as opposed to a refusal of the person: a full trip, …):
# the join page then shows no trip details at all.
LINK_REFUSALS = (InvitationNotFound, InvitationExpired, InvitationRevoked, InvitationUsedUp)


# --- Reading ------------------------------------------------------------------------------


def _trip_view(request, trip_id: int):
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


def _render_trip(
    request,
    trip_id: int,
    *,
    status: int = 200,
    error: str = "",
    new_link: str = "",
    settings_form: GroupSettingsForm | None = None,
):
    view = _trip_view(request, trip_id)
    access, group, trip = view.access, view.group, view.trip
    members_can_invite = settings.SIDEBYSIDE["MEMBERS_CAN_INVITE"]
    can_invite = access.is_organiser or (access.is_member and members_can_invite)
    context = {
        "trip": trip,
        "group": group,
        "access": access,
        "error": error,
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
        context["friends"] = _friend_suggestions(request, group.pk)
    if access.is_member:
        context.update(_plan_context(request, trip))
        context.update(views_pay.checkout_context(request, trip, context))
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
    travellers = [
        {**m, "is_me": m["user_id"] == me, "seat": seat_of.get(m["user_id"], "")}
        for m in snapshot["members"]
    ]
    outbound = leg["direction"] == "outbound"
    is_organiser = snapshot["me"]["role"] == "organiser"
    return {
        "plan": snapshot,
        "plan_leg": leg,
        "plan_outbound": outbound,
        "plan_from": trip.origin if outbound else trip.destination,
        "plan_to": trip.destination if outbound else trip.origin,
        "plan_settled": _plan_departure(leg["departure"]),
        "plan_options": options,
        "plan_shown_id": shown_id,
        "plan_seatmap": booking_selectors.departure_detail(departure_id=shown_id)
        if shown_id
        else None,
        "plan_holders": holders,
        "plan_travellers": travellers,
        "plan_my_fare": my_fare,
        "plan_fare_classes": booking_selectors.fare_class_list(),
        "plan_passenger_types": booking_selectors.passenger_type_list(),
        "plan_cards": booking_selectors.discount_card_list(),
        "plan_propose": _propose_choices(trip, direction=leg["direction"])
        if is_organiser and not leg["departure"]
        else None,
    }


@require_GET
def trip_detail(request, trip_id: int):
    return _render_trip(request, trip_id)


@login_required
@require_GET
def my_trips(request):
    return _render_my_trips(request)


def _render_my_trips(request, *, status: int = 200, error: str = ""):
    rows = booking_selectors.trips_for_user(user=request.user)
    counts = booking_selectors.trip_member_counts(group_ids={trip.group_id for trip, _m in rows})
    today = timezone.localdate()
    trips = [
        {
            "trip": trip,
            "membership": membership,
            "member_count": counts.get(trip.group_id, 0),
            "past": (trip.return_to or trip.outbound_to) < today,
        }
        for trip, membership in rows
    ]
    context = {
        "trips": trips,
        "invitations": group_selectors.invitations_for_user(user=request.user),
        "error": error,
    }
    return render(request, "frontend/trips/list.html", context, status=status)


def _first_trip_url(group_id: int) -> str:
    trips = booking_selectors.group_trips(group_id=group_id)
    return reverse("trip", args=[trips[0].pk]) if trips else reverse("my_trips")


@login_required
@require_POST
def invitation_accept_personal(request, invitation_id: int):
    try:
        rate_limit(request, "join")
        membership = group_services.invitation_accept_personal(
            invitation_id=invitation_id, user=request.user
        )
    except DomainError as exc:
        return _render_my_trips(request, status=exc.status, error=exc.message)
    _joined_message(request, membership)
    return redirect(_first_trip_url(membership.group_id))


def _joined_message(request, membership) -> None:
    if membership.status == "pending":
        messages.info(
            request, _("You asked to join. You are waiting for the organiser's approval.")
        )
    else:
        messages.success(request, _("Welcome aboard: you are one of the travellers."))


# --- Planning a trip ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def trip_new(request):
    stations = booking_selectors.station_list()
    events = booking_selectors.event_list()
    status = 200
    if request.method == "POST":
        form = TripCreateForm(request.POST, stations=stations, events=events)
        if form.is_valid():
            try:
                trip = booking_services.trip_create(
                    organiser=request.user, **form.service_arguments()
                )
            except DomainError as exc:
                form_add_domain_error(form, exc, aliases={"name": "title"})
                status = exc.status
            else:
                messages.success(request, _("Your trip is ready. Invite your friends with a link."))
                return redirect("trip", trip_id=trip.pk)
        else:
            status = 400
    else:
        initial = {}
        slug = request.GET.get("event", "")
        if any(event.slug == slug for event in events):
            initial["event"] = slug
        form = TripCreateForm(initial=initial, stations=stations, events=events)
    context = {
        "form": form,
        "privacy_choices": privacy_choices(form["privacy"].value()),
        "today": timezone.localdate(),
    }
    return render(request, "frontend/trips/new.html", context, status=status)


# --- Actions on a trip ----------------------------------------------------------------------


def _trip_action(request, trip_id: int, action, success: str):
    """Run ``action(group_id)``; then back to the trip page with ``success``, or the trip
    page again with the refusal and its status."""
    view = _trip_view(request, trip_id)
    try:
        action(view.group.pk)
    except DomainError as exc:
        return _render_trip(request, trip_id, status=exc.status, error=exc.message)
    if success:
        messages.success(request, success)
    return redirect("trip", trip_id=trip_id)


def _user_id(request) -> int | None:
    try:
        return int(request.POST.get("user_id", ""))
    except ValueError:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def invitation_create(request, trip_id: int):
    if request.method == "GET":  # e.g. the page reloaded: the link is not shown twice
        return redirect(reverse("trip", args=[trip_id]) + "#invite")
    view = _trip_view(request, trip_id)
    try:
        rate_limit(request, "invite")
        _invitation, token = group_services.invitation_create(
            group_id=view.group.pk, by=request.user
        )
    except DomainError as exc:
        return _render_trip(request, trip_id, status=exc.status, error=exc.message)
    link = request.build_absolute_uri(reverse("join", args=[token]))
    return _render_trip(request, trip_id, new_link=link)


@login_required
@require_POST
def invitation_invite_friend(request, trip_id: int):
    user_id = _user_id(request)

    def invite(group_id):
        rate_limit(request, "invite")
        invitation, _token = group_services.invitation_create_for_friend(
            group_id=group_id, by=request.user, friend_user_id=user_id or 0
        )
        return invitation

    return _trip_action(
        request,
        trip_id,
        invite,
        _("Your friend is invited: the trip is on their Sidebyside page."),
    )


@login_required
@require_POST
def invitation_revoke(request, trip_id: int, invitation_id: int):
    return _trip_action(
        request,
        trip_id,
        lambda _group_id: group_services.invitation_revoke(
            invitation_id=invitation_id, by=request.user
        ),
        _("The invitation is withdrawn: its link no longer works."),
    )


def _member_action(service, success: str):
    @login_required
    @require_POST
    def view(request, trip_id: int):
        user_id = _user_id(request)
        if user_id is None:
            return _render_trip(
                request, trip_id, status=400, error=_("Choose one of the travellers.")
            )
        return _trip_action(
            request,
            trip_id,
            lambda group_id: service(group_id=group_id, by=request.user, user_id=user_id),
            success,
        )

    return view


member_approve = _member_action(
    group_services.membership_approve, _("Approved: they are one of the travellers now.")
)
member_reject = _member_action(group_services.membership_reject, _("Request declined."))
member_remove = _member_action(
    group_services.membership_remove, _("They are no longer on this trip.")
)
member_make_organiser = _member_action(
    lambda *, group_id, by, user_id: group_services.organiser_hand_over(
        group_id=group_id, by=by, to_user_id=user_id
    ),
    _("They organise the trip now."),
)


@login_required
@require_POST
def group_settings(request, trip_id: int):
    view = _trip_view(request, trip_id)
    form = GroupSettingsForm(request.POST)
    if not form.is_valid():
        return _render_trip(request, trip_id, status=400, settings_form=form)
    try:
        group_services.group_update(
            group_id=view.group.pk, by=request.user, **form.service_arguments()
        )
    except DomainError as exc:
        form_add_domain_error(form, exc)
        return _render_trip(request, trip_id, status=exc.status, settings_form=form)
    messages.success(request, _("The trip's settings are saved."))
    return redirect("trip", trip_id=trip_id)


@login_required
@require_http_methods(["GET", "POST"])
def trip_leave(request, trip_id: int):
    view = _trip_view(request, trip_id)
    if request.method == "POST":
        try:
            group_services.membership_leave(group_id=view.group.pk, user=request.user)
        except DomainError as exc:
            return _render_trip(request, trip_id, status=exc.status, error=exc.message)
        messages.success(request, _("You left “%(title)s”.") % {"title": view.trip.title})
        return redirect("my_trips")
    if not (view.access.is_member or view.access.is_pending):
        return redirect("trip", trip_id=trip_id)
    return render(request, "frontend/trips/leave.html", {"trip": view.trip, "access": view.access})


@login_required
@require_POST
def share_details(request, trip_id: int):
    shares = request.POST.get("shares") == "1"
    return _trip_action(
        request,
        trip_id,
        lambda group_id: group_services.membership_share_details(
            group_id=group_id, user=request.user, shares=shares
        ),
        _("The group sees your card, age and price.")
        if shares
        else _("Your card, age and price are yours alone again."),
    )


@require_http_methods(["GET", "POST"])
def trip_join_public(request, trip_id: int):
    if request.method == "GET" or not request.user.is_authenticated:
        # "Join" from a logged-out page: log in, come back to the trip, press Join again.
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("trip", args=[trip_id]))
        return redirect("trip", trip_id=trip_id)
    view = _trip_view(request, trip_id)
    try:
        rate_limit(request, "join")
        membership = group_services.group_join_public(group_id=view.group.pk, user=request.user)
    except DomainError as exc:
        return _render_trip(request, trip_id, status=exc.status, error=exc.message)
    _joined_message(request, membership)
    return redirect("trip", trip_id=trip_id)


# --- Joining by link --------------------------------------------------------------------------


def _join_refused(request, exc: DomainError):
    return render(
        request, "frontend/trips/join_refused.html", {"message": exc.message}, status=exc.status
    )


@require_http_methods(["GET", "POST"])
def join(request, token: str):
    try:
        invitation = group_selectors.invitation_check(token=token)
    except DomainError as exc:
        return _join_refused(request, exc)
    group = invitation.group
    trips = booking_selectors.group_trips(group_id=group.pk)
    trip_url = reverse("trip", args=[trips[0].pk]) if trips else reverse("my_trips")
    user = request.user
    if user.is_authenticated:
        try:
            access = group_selectors.group_access(user=user, group_id=group.pk)
        except GroupNotFound:
            access = None
        if access is not None and (access.is_member or access.is_pending):
            return redirect(trip_url)
    status, error = 200, ""
    if request.method == "POST":
        if not user.is_authenticated:
            return redirect_to_login(request.path)
        try:
            rate_limit(request, "join")
            membership = group_services.invitation_accept(token=token, user=user)
        except LINK_REFUSALS as exc:  # withdrawn or used up meanwhile
            return _join_refused(request, exc)
        except DomainError as exc:
            status, error = exc.status, exc.message
        else:
            _joined_message(request, membership)
            return redirect(trip_url)
    members = group_selectors.group_members(group=group, viewer=None)
    organiser = next((m for m in members if m.role == "organiser"), None)
    context = {
        "token": token,
        "group": group,
        "trip": trips[0] if trips else None,
        "more_trips": trips[1:],
        "organiser": organiser,
        "member_count": len(members),
        "spots_left": max(group.max_members - len(members), 0),
        "join_path": request.path,
        "for_an_address": bool(invitation.invitee_email),
        "error": error,
    }
    return render(request, "frontend/trips/join.html", context, status=status)


# --- Events ----------------------------------------------------------------------------------


@require_GET
def event_detail(request, slug: str):
    try:
        event = booking_selectors.event_get(slug=slug)
    except EventNotFound as exc:
        raise Http404(str(exc.message)) from exc
    trips = [
        {"trip": trip, "spots_left": max(trip.group.max_members - trip.member_count, 0)}
        for trip in booking_selectors.event_public_trips(event=event)
    ]
    return render(
        request,
        "frontend/trips/event.html",
        {"event": event, "trips": trips, "today": timezone.localdate()},
    )


# --- The live plan without JavaScript ---------------------------------------------------------
#
# The plan's page talks to the websocket; these forms are the same actions for a browser
# without JavaScript (or before the socket is up): the same services, then back to the
# page. Seats are taken with "Sit us together" here; picking one seat needs the map's script.


def _optional_int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**53 else None


@login_required
@require_POST
def plan_action(request, trip_id: int):
    data = request.POST
    action = data.get("action", "")
    leg = data.get("leg") if data.get("leg") in ("outbound", "return") else "outbound"
    departure_id = _optional_int(data.get("departure_id"))
    user = request.user
    actions = {
        "vote": (
            lambda: plan.poll_vote(trip_id=trip_id, user=user, leg=leg, departure_id=departure_id),
            _("Your vote is counted."),
        ),
        "unvote": (
            lambda: plan.poll_vote(trip_id=trip_id, user=user, leg=leg, departure_id=None),
            _("Your vote is withdrawn."),
        ),
        "settle": (
            lambda: plan.poll_settle(trip_id=trip_id, by=user, leg=leg, departure_id=departure_id),
            _("The train is chosen."),
        ),
        "propose": (
            lambda: plan.poll_propose(
                trip_id=trip_id,
                by=user,
                leg=leg,
                departure_ids=[
                    n for n in map(_optional_int, data.getlist("departure_ids")[:10]) if n
                ],
            ),
            _("The trains are put to the vote."),
        ),
        "fare": (
            lambda: plan.fare_choose(
                trip_id=trip_id,
                user=user,
                leg=leg,
                fare_class_code=data.get("fare_class", "")[:40],
                passenger_type_code=data.get("passenger_type", "")[:40] or "adult",
                age=_optional_int(data.get("age")),
                card_code=data.get("card", "")[:40],
                card_number=data.get("card_number", "")[:40],
            ),
            _("Your ticket is saved."),
        ),
        "sit_together": (
            lambda: plan.sit_together(
                trip_id=trip_id, user=user, leg=leg, departure_id=departure_id
            ),
            _("Done: you are seated together."),
        ),
        "release_seat": (
            lambda: plan.seat_release(trip_id=trip_id, user=user, leg=leg),
            _("Your seat is free again."),
        ),
    }
    view = _trip_view(request, trip_id)  # 404 for someone who may not see the trip
    if action not in actions:
        return _render_trip(request, view.trip.pk, status=400, error=_("Unknown action."))
    service, success = actions[action]
    try:
        service()
    except TripNotFound as exc:
        raise Http404(str(exc.message)) from exc
    except DomainError as exc:
        return _render_trip(request, trip_id, status=exc.status, error=exc.message)
    messages.success(request, success)
    return redirect(f"{reverse('trip', args=[trip_id])}?leg={leg}#plan")
