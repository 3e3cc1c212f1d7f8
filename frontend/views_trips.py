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

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from booking import selectors as booking_selectors
from booking import services as booking_services
from booking.commands import command_list_params, command_outcome, command_run
from booking.errors import EventNotFound, TripClosedToJoiners, TripNotFound
from core.errors import DomainError
from frontend import trip_page
from frontend.compact import compact_html
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
from payments import selectors as payment_selectors

# The refusals of a link itself (as opposed to a refusal of the person: a full trip, …):
# the join page then shows no trip details at all.
LINK_REFUSALS = (InvitationNotFound, InvitationExpired, InvitationRevoked, InvitationUsedUp)


# Compressed on the wire (the page is mostly repeated markup); GZipMiddleware's random
# padding blunts BREACH, and a GET of this page reflects nothing from the request
# (docs/frontend.md, "Size and compression").
@gzip_page
@compact_html
@require_GET
def trip_detail(request, trip_id: int):
    return trip_page.render_trip(request, trip_id)


@login_required
@require_GET
def my_trips(request):
    return _render_my_trips(request)


def _render_my_trips(request, *, status: int = 200, error: str = ""):
    rows = booking_selectors.trips_for_user(user=request.user)
    counts = booking_selectors.trip_member_counts(group_ids={trip.group_id for trip, _m in rows})
    standings = payment_selectors.travel_standings(
        user=request.user, trip_ids=[trip.pk for trip, _m in rows]
    )
    today = timezone.localdate()
    trips = [
        {
            "trip": trip,
            "membership": membership,
            "member_count": counts.get(trip.group_id, 0),
            "standing": standings.get(trip.pk, ""),
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
                rate_limit(request, "trip_create")
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
        event = next((e for e in events if e.slug == slug), None)
        if event is not None:
            # A trip to an event leaves on its day and, if they choose a return, comes
            # back on its last day (still editable); never "today" by default.
            today = timezone.localdate()
            initial.update(
                event=slug,
                outbound_from=max(event.starts_on, today),
                return_from=max(event.ends_on, event.starts_on, today),
            )
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
    view = trip_page.trip_view(request, trip_id)
    try:
        action(view.group.pk)
    except DomainError as exc:
        return trip_page.render_trip(request, trip_id, status=exc.status, error=exc.message)
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
    view = trip_page.trip_view(request, trip_id)
    try:
        rate_limit(request, "invite")
        _invitation, token = group_services.invitation_create(
            group_id=view.group.pk, by=request.user
        )
    except DomainError as exc:
        return trip_page.render_trip(request, trip_id, status=exc.status, error=exc.message)
    link = request.build_absolute_uri(reverse("join", args=[token]))
    return trip_page.render_trip(request, trip_id, new_link=link)


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
            return trip_page.render_trip(
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


@login_required
@require_POST
def member_make_organiser(request, trip_id: int):
    """The hand-over itself, after its confirmation page; the message names who organises
    now (the new organiser's open pages hear ``organiser_changed``)."""
    user_id = _user_id(request)
    if user_id is None:
        return trip_page.render_trip(
            request, trip_id, status=400, error=_("Choose one of the travellers.")
        )
    view = trip_page.trip_view(request, trip_id)
    name = next(
        (
            m.name
            for m in group_selectors.group_members(group=view.group, viewer=request.user)
            if m.user_id == user_id
        ),
        "",
    )
    return _trip_action(
        request,
        trip_id,
        lambda group_id: group_services.organiser_hand_over(
            group_id=group_id, by=request.user, to_user_id=user_id
        ),
        _("%(name)s organises the trip now.") % {"name": name},
    )


@login_required
@require_POST
def group_settings(request, trip_id: int):
    view = trip_page.trip_view(request, trip_id)
    form = GroupSettingsForm(request.POST)
    if not form.is_valid():
        return trip_page.render_trip(request, trip_id, status=400, settings_form=form)
    try:
        group_services.group_update(
            group_id=view.group.pk, by=request.user, **form.service_arguments()
        )
    except DomainError as exc:
        form_add_domain_error(form, exc)
        return trip_page.render_trip(request, trip_id, status=exc.status, settings_form=form)
    messages.success(request, _("The trip's settings are saved."))
    return redirect("trip", trip_id=trip_id)


@login_required
@require_http_methods(["GET", "POST"])
def trip_leave(request, trip_id: int):
    view = trip_page.trip_view(request, trip_id)
    if request.method == "POST":
        try:
            group_services.membership_leave(group_id=view.group.pk, user=request.user)
        except DomainError as exc:
            return trip_page.render_trip(request, trip_id, status=exc.status, error=exc.message)
        messages.success(request, _("You left “%(title)s”.") % {"title": view.trip.title})
        return redirect("my_trips")
    if not (view.access.is_member or view.access.is_pending):
        return redirect("trip", trip_id=trip_id)
    # What leaving would be refused with now (a checkout under way, a valid ticket), else
    # what it does: said before anyone confirms, by the same rule as the leaving itself.
    refusal = None
    if view.access.is_member:
        refusal = group_services.membership_end_check(
            group_id=view.group.pk, user_id=request.user.pk, kind="member_left"
        )
    outcomes = payment_selectors.leave_outcomes(user_id=request.user.pk, group_id=view.group.pk)
    context = {
        "trip": view.trip,
        "access": view.access,
        "outcomes": outcomes,
        "refusal": refusal,
        # Who left a public trip may join it again, as anyone may (groups.services._join):
        # said here so that leaving is not taken for a door that locks behind them.
        "public": view.group.is_public,
    }
    return render(request, "frontend/trips/leave.html", context)


@login_required
@require_GET
def member_remove_confirm(request, trip_id: int, user_id: int):
    """The organiser's "Remove": first what happens to that traveller's seat, share and
    ticket (the same words as their own leave page), then the POST to ``member_remove``."""
    view = trip_page.trip_view(request, trip_id)
    if not view.access.is_organiser:
        raise PermissionDenied
    member = _other_active_member(view, request.user, user_id)
    refusal = group_services.membership_end_check(
        group_id=view.group.pk, user_id=user_id, kind="member_removed"
    )
    outcomes = payment_selectors.leave_outcomes(user_id=user_id, group_id=view.group.pk)
    context = {"trip": view.trip, "member": member, "outcomes": outcomes, "refusal": refusal}
    return render(request, "frontend/trips/remove.html", context)


@login_required
@require_GET
def member_make_organiser_confirm(request, trip_id: int, user_id: int):
    """The organiser's "Make organiser": first who, and what changes for both of them,
    then the POST to ``member_make_organiser`` (the role is handed over at once)."""
    view = trip_page.trip_view(request, trip_id)
    if not view.access.is_organiser:
        raise PermissionDenied
    member = _other_active_member(view, request.user, user_id)
    context = {"trip": view.trip, "member": member}
    return render(request, "frontend/trips/hand_over.html", context)


def _other_active_member(view, viewer, user_id: int):
    """Another active traveller of the trip's group (as ``group_members`` shows them), or
    the 404 page."""
    member = next(
        (
            m
            for m in group_selectors.group_members(group=view.group, viewer=viewer)
            if m.user_id == user_id and m.status == "active" and not m.is_viewer
        ),
        None,
    )
    if member is None:
        raise Http404
    return member


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
    view = trip_page.trip_view(request, trip_id)
    try:
        rate_limit(request, "join")
        membership = group_services.group_join_public(group_id=view.group.pk, user=request.user)
    except DomainError as exc:
        return trip_page.render_trip(request, trip_id, status=exc.status, error=exc.message)
    _joined_message(request, membership)
    return redirect("trip", trip_id=trip_id)


# --- Joining by link --------------------------------------------------------------------------


def _join_refused(request, exc: DomainError):
    return render(
        request, "frontend/trips/join_refused.html", {"message": exc.message}, status=exc.status
    )


# The session key that marks "this browser opened this link, then went to log in".
JOIN_AFTER_LOGIN = "join_after_login"


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
    # Being paid for or booked: the page says so, with the train, and offers a booking of
    # one's own on it; nobody joins (groups.join_checks refuses the POST too).
    closed = booking_selectors.trip_closed_to_joiners(group_id=group.pk)
    # Someone who opened this link logged out, then logged in or signed up from it (the
    # session keeps the mark through the login), comes back here and joins at once: no
    # second tap. Only this browser's own visit sets the mark, so a link sent to someone
    # already logged in still asks them.
    continues = (
        request.method == "GET"
        and user.is_authenticated
        and request.session.pop(JOIN_AFTER_LOGIN, None) == token
    )
    if not user.is_authenticated and request.method == "GET" and closed is None:
        request.session[JOIN_AFTER_LOGIN] = token
    if (request.method == "POST" or continues) and closed is None:
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
        "closed_trip": closed,
        "closed_legs": [leg for leg in closed.legs.all() if leg.departure_id] if closed else [],
        # Still planning with the train chosen: the joiner sees which, and that the others
        # are picking their seats ("Sit us together" seats them next to the others).
        "chosen_legs": booking_selectors.trip_trains_chosen(trip_id=trips[0].pk)
        if trips and closed is None
        else [],
    }
    if closed is not None and request.method == "POST":
        status = TripClosedToJoiners.status
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
# The plan's page talks to the websocket; these forms are the same commands for a browser
# without JavaScript (or before the socket is up): each form names a command of
# ``booking.commands`` (the table the REST API and the websocket use too), its fields are
# the command's parameters, and a refusal is the same as through the other doors, shown
# on the page (next to the field when the page has it). Seats are taken with "Sit us
# together" here; picking one seat needs the map's script.

# The forms' own names for two commands: "fare" is ``choose_fare``; "unvote" is ``vote``
# for no train (a form cannot send null).
PLAN_FORM_ALIASES = {"fare": ("choose_fare", {}), "unvote": ("vote", {"departure_id": None})}
PLAN_FORM_SUCCESS = {
    "vote": gettext_lazy("Your vote is counted."),
    "unvote": gettext_lazy("Your vote is withdrawn."),
    "settle": gettext_lazy("The train is chosen."),
    "propose": gettext_lazy("The trains are put to the vote."),
    "fare": gettext_lazy("Your ticket is saved."),
    "choose_fare": gettext_lazy("Your ticket is saved."),
    "pick_seat": gettext_lazy("Your seat is held."),
    "sit_together": gettext_lazy("Done: you are seated together."),
    "release_seat": gettext_lazy("Your seat is free again."),
}


def _plan_form_input(data, action: str) -> tuple[str, dict]:
    """The command a plan form names and its parameters: each field as posted (a list for
    a list parameter); an empty field is a field left out (a form cannot leave one out),
    so the command's default applies, or its "required" refusal."""
    command, fixed = PLAN_FORM_ALIASES.get(action, (action, {}))
    lists = command_list_params(command)
    values: dict = {}
    for name in data:
        if name in ("action", "csrfmiddlewaretoken"):
            continue
        posted = [value for value in data.getlist(name) if value != ""]
        if posted:
            values[name] = posted if name in lists else posted[-1]
    return command, {**values, **fixed}


@login_required
@require_POST
def plan_action(request, trip_id: int):
    action = request.POST.get("action", "")
    command, data = _plan_form_input(request.POST, action)
    view = trip_page.trip_view(request, trip_id)  # 404 for someone who may not see the trip
    try:
        event = command_run(command, trip_id=view.trip.pk, user=request.user, data=data)
    except TripNotFound as exc:
        raise Http404(str(exc.message)) from exc
    except DomainError as exc:
        return trip_page.render_trip(
            request,
            trip_id,
            status=exc.status,
            error=exc.message,
            error_code=exc.code,
            field_errors=exc.fields,
        )
    messages.success(request, command_outcome(event) or PLAN_FORM_SUCCESS[action])
    return redirect(f"{reverse('trip', args=[trip_id])}?leg={data['leg']}#plan")
