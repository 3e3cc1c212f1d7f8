"""Who may call what: one table of every trip and friend-group route × caller, with the
status each gets. The table must cover every route: a new endpoint under a checked prefix
without rows fails ``test_every_route_has_rows_in_the_table``.

Callers: ``anonymous`` (not logged in), ``stranger`` (logged in, not in the group),
``member``, ``organiser``, and for a few routes ``pending`` (waiting for approval),
``staff`` (staff with ``referrals.view_dashboard`` and ``booking.change_departure``)
and ``staff_unpermitted`` (staff without them). The
world is a private trip whose group approves joiners, with one member and one person
waiting; rows marked ``world="public"`` use a public trip instead.

Pages can join the table later: add their rows (the client is Django's, so a page answers
as it would to a browser) and their prefix to ``CHECKED_PREFIXES``.
"""

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import requests
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.urls import URLPattern, URLResolver, get_resolver, path
from rest_framework.test import APIClient
from schemathesis.core.transport import Response as SchemaResponse

from groups import services
from tests import factories

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "stranger", "member", "organiser")

# Route prefixes whose every route must have rows, and the routes left out on purpose:
# the catalog (public, read-only data about trains and events) and the API's own docs.
CHECKED_PREFIXES = (
    "api/",
    "trips/",
    "join/",
    "account/",
    "events/",
    "pay/",
    "staff/",
    "tickets/",
)
NOT_IN_TABLE = {
    # The goodbye page after an account is deleted: it shows the confirmation code kept in
    # the (new, anonymous) session, whoever asks (tests/groups/test_account.py).
    "my_account_deleted",
    "api-stations",
    "api-departures",
    "api-departure",
    "api-departure-price",
    "api-events",
    "api-schema",
    "api-docs",
}


@dataclass(frozen=True)
class Row:
    method: str
    name: str  # the route's URL name
    url: Callable[[SimpleNamespace], str]
    role: str
    status: int
    body: Callable[[SimpleNamespace], dict] | None = None
    world: str = "private"


@dataclass(frozen=True)
class Route:
    """One route and method, with the status for each caller (expanded into ``Row``s)."""

    method: str
    name: str
    url: Callable[[SimpleNamespace], str]
    statuses: dict[str, int]
    body: Callable[[SimpleNamespace], dict] | None = None
    world: str = "private"

    def rows(self) -> list[Row]:
        return [
            Row(self.method, self.name, self.url, role, code, self.body, self.world)
            for role, code in self.statuses.items()
        ]


def _push_subscription() -> dict:
    """A browser's subscription as push.js posts it (a push service's endpoint, the
    browser's keys)."""
    import base64
    import secrets

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()  # noqa: E731
    return {
        "endpoint": "https://fcm.googleapis.com/fcm/send/authorization-table",
        "keys": {"p256dh": b64(point), "auth": b64(secrets.token_bytes(16))},
    }


def _statuses(anonymous, stranger, member, organiser, **others) -> dict[str, int]:
    return {
        "anonymous": anonymous,
        "stranger": stranger,
        "member": member,
        "organiser": organiser,
        **others,
    }


def _trip_body(w):
    return {"origin": "FRPLY", "destination": "FRLPD", "outbound_from": w.day}


# The live plan's routes need trains on the world trip's route and day: made by the row's
# body (each row has its own world), and proposed as the trip's poll where the route needs
# one, so that the callers who may act get the happy path.
def _trains(w) -> list:
    import datetime as dt

    from django.utils import timezone

    from booking.models import Station

    factories.passenger_types()
    paris, lyon = Station.objects.get(code="FRPLY"), Station.objects.get(code="FRLPD")
    train = factories.vehicle()
    return [
        factories.departure(
            origin=paris,
            destination=lyon,
            vehicle_obj=train,
            departs_at=timezone.make_aware(dt.datetime.combine(w.trip.outbound_from, dt.time(h))),
        )
        for h in (9, 11)
    ]


def _polled(w) -> list:
    from booking import plan

    trains = _trains(w)
    plan.poll_propose(
        trip_id=w.trip.pk, by=w.organiser, leg="outbound", departure_ids=[t.pk for t in trains]
    )
    return trains


def _poll_body(w):
    return {"leg": "outbound", "departure_ids": [t.pk for t in _trains(w)]}


def _option_body(w):
    return {"leg": "outbound", "departure_id": _polled(w)[0].pk}


def _fare_body(w):
    _polled(w)
    return {"leg": "outbound", "fare_class": "standard-2", "passenger_type": "adult", "age": 35}


def _seat_body(w):
    train = _polled(w)[0]
    seat = train.vehicle.coaches.get(number=2).seats.order_by("number").first()
    return {"leg": "outbound", "departure_id": train.pk, "seat_id": seat.pk}


def _plan(w, tail: str = "") -> str:
    return f"/api/trips/{w.trip.pk}/plan/{tail}"


def _ticket_url(w) -> str:
    """A booked trip's ticket (booked straight through booking's service: no Stripe)."""
    from booking.services import TicketItem, booking_confirm
    from booking.tickets import ticket_signed_code

    trip, (olivia, *_), _departure = factories.checkout_ready_trip(travellers=1)
    allocation = trip.legs.get().allocations.get(user=olivia, state="held")
    fare = trip.legs.get().fares.get(user=olivia)
    booking = booking_confirm(
        trip_id=trip.pk,
        items=[
            TicketItem(
                allocation_id=allocation.pk,
                traveller_id=olivia.pk,
                leg_id=allocation.leg_id,
                fare_class_id=fare.fare_class_id,
                passenger_type_id=fare.passenger_type_id,
                discount_card_id=None,
                price_cents=4500,
                currency="EUR",
            )
        ],
    )
    return f"/api/tickets/verify/{ticket_signed_code(booking.tickets.get())}/"


ROUTES = [
    # Trips (booking/urls.py).
    Route("GET", "api-trips", lambda w: "/api/trips/", _statuses(403, 200, 200, 200)),
    Route("POST", "api-trips", lambda w: "/api/trips/", _statuses(403, 201, 201, 201), _trip_body),
    # A private trip does not exist for strangers, logged in or not.
    Route(
        "GET",
        "api-trip",
        lambda w: f"/api/trips/{w.trip.pk}/",
        _statuses(404, 404, 200, 200, pending=200),
    ),
    # A public trip: a summary for anyone.
    Route(
        "GET",
        "api-trip",
        lambda w: f"/api/trips/{w.trip.pk}/",
        _statuses(200, 200, 200, 200),
        world="public",
    ),
    # Joining by a link: the preview for anyone holding it; joining once logged in
    # (the stranger joins, pending approval; members are already in).
    Route("GET", "api-join", lambda w: f"/api/join/{w.token}/", _statuses(200, 200, 200, 200)),
    Route("POST", "api-join", lambda w: f"/api/join/{w.token}/", _statuses(403, 201, 200, 200)),
    # The group (groups/api_urls.py).
    Route(
        "PATCH",
        "api-group",
        lambda w: f"/api/groups/{w.group.pk}/",
        _statuses(403, 404, 403, 200),
        lambda w: {"name": "Renamed"},
    ),
    Route(
        "GET",
        "api-group-invitations",
        lambda w: f"/api/groups/{w.group.pk}/invitations/",
        _statuses(403, 404, 403, 200),
    ),
    Route(
        "POST",
        "api-group-invitations",
        lambda w: f"/api/groups/{w.group.pk}/invitations/",
        _statuses(403, 404, 403, 201),
        lambda w: {"channel": "link"},
    ),
    Route(
        "POST",
        "api-invitation-revoke",
        lambda w: f"/api/invitations/{w.invitation.pk}/revoke/",
        _statuses(403, 404, 403, 200),
    ),
    Route(
        "GET",
        "api-invitations-mine",
        lambda w: "/api/invitations/mine/",
        _statuses(403, 200, 200, 200),
    ),
    # Notifications in one's own browser (notices/api_urls.py): anyone logged in.
    Route(
        "POST",
        "api-push-subscribe",
        lambda w: "/api/push/subscribe/",
        _statuses(403, 201, 201, 201),
        lambda w: _push_subscription(),
    ),
    Route(
        "POST",
        "api-push-unsubscribe",
        lambda w: "/api/push/unsubscribe/",
        _statuses(403, 204, 204, 204),
        lambda w: {"endpoint": _push_subscription()["endpoint"]},
    ),
    # The personal invitation is the stranger's: nobody else may use it.
    Route(
        "POST",
        "api-invitation-accept",
        lambda w: f"/api/invitations/{w.personal.pk}/accept/",
        _statuses(403, 201, 404, 404),
    ),
    # Joining without an invitation: a private group does not exist for a stranger.
    Route(
        "POST",
        "api-group-join",
        lambda w: f"/api/groups/{w.group.pk}/join/",
        _statuses(403, 404, 200, 200),
    ),
    Route(
        "POST",
        "api-group-join",
        lambda w: f"/api/groups/{w.group.pk}/join/",
        _statuses(403, 201, 200, 200),
        world="public",
    ),
    # The organiser must hand over before leaving.
    Route(
        "POST",
        "api-group-leave",
        lambda w: f"/api/groups/{w.group.pk}/leave/",
        _statuses(403, 404, 200, 409, pending=200),
    ),
    Route(
        "POST",
        "api-group-hand-over",
        lambda w: f"/api/groups/{w.group.pk}/hand-over/",
        _statuses(403, 404, 403, 200),
        lambda w: {"user_id": w.member.pk},
    ),
    Route(
        "PATCH",
        "api-group-me",
        lambda w: f"/api/groups/{w.group.pk}/me/",
        _statuses(403, 404, 200, 200, pending=403),
        lambda w: {"shares_details": True},
    ),
    Route(
        "POST",
        "api-member-approve",
        lambda w: f"/api/groups/{w.group.pk}/members/{w.pending.pk}/approve/",
        _statuses(403, 404, 403, 200, pending=403),
    ),
    Route(
        "POST",
        "api-member-reject",
        lambda w: f"/api/groups/{w.group.pk}/members/{w.pending.pk}/reject/",
        _statuses(403, 404, 403, 200),
    ),
    Route(
        "POST",
        "api-member-remove",
        lambda w: f"/api/groups/{w.group.pk}/members/{w.member.pk}/remove/",
        _statuses(403, 404, 403, 200),
    ),
    # The live plan (booking/plan_api.py): its active travellers only. A stranger gets
    # "not found"; someone waiting for approval not_member; the poll is the organiser's.
    Route("GET", "api-trip-plan", _plan, _statuses(403, 404, 200, 200, pending=403)),
    # A public trip's summary is anyone's, its plan still its travellers' only.
    Route("GET", "api-trip-plan", _plan, _statuses(403, 404, 200, 200), world="public"),
    Route(
        "GET",
        "api-trip-plan-events",
        lambda w: _plan(w, "events/?since=0"),
        _statuses(403, 404, 200, 200, pending=403),
    ),
    Route(
        "POST",
        "api-trip-plan-poll",
        lambda w: _plan(w, "poll/"),
        _statuses(403, 404, 403, 201, pending=403),
        _poll_body,
    ),
    Route(
        "POST",
        "api-trip-plan-votes",
        lambda w: _plan(w, "votes/"),
        _statuses(403, 404, 201, 201, pending=403),
        _option_body,
    ),
    # On a public trip too, the plan is not there for a stranger (reads and writes alike).
    Route(
        "POST",
        "api-trip-plan-votes",
        lambda w: _plan(w, "votes/"),
        _statuses(403, 404, 201, 201, pending=403),
        _option_body,
        world="public",
    ),
    Route(
        "POST",
        "api-trip-plan-settle",
        lambda w: _plan(w, "settle/"),
        _statuses(403, 404, 403, 201, pending=403),
        _option_body,
    ),
    Route(
        "PUT",
        "api-trip-plan-fare",
        lambda w: _plan(w, "fare/"),
        _statuses(403, 404, 200, 200, pending=403),
        _fare_body,
    ),
    Route(
        "POST",
        "api-trip-plan-seat",
        lambda w: _plan(w, "seat/"),
        _statuses(403, 404, 201, 201, pending=403),
        _seat_body,
    ),
    Route(
        "DELETE",
        "api-trip-plan-seat",
        lambda w: _plan(w, "seat/?leg=outbound"),
        _statuses(403, 404, 200, 200, pending=403),
    ),
    Route(
        "POST",
        "api-trip-plan-sit-together",
        lambda w: _plan(w, "sit-together/"),
        _statuses(403, 404, 201, 201, pending=403),
        _option_body,
    ),
    # A ticket's signed code (its QR code): anyone may check it; a forged one is 400.
    Route("GET", "api-ticket-verify", _ticket_url, _statuses(200, 200, 200, 200)),
    Route(
        "GET",
        "api-ticket-verify",
        lambda w: "/api/tickets/verify/FORGEDCODE:not-a-signature/",
        _statuses(400, 400, 400, 400),
    ),
    # Care (care/api.py): a trip's travellers ask; a case is its opener's (and the
    # group's when shared) and the care team's: anyone else gets "not found".
    Route(
        "POST",
        "api-care-open",
        lambda w: f"/api/trips/{w.trip.pk}/care/cases/",
        _statuses(403, 404, 201, 201, pending=403),
        lambda w: {"body": "Our train is cancelled", "visibility": "me"},
    ),
    Route(
        "GET",
        "api-care-case",
        lambda w: f"/api/care/cases/{_members_case(w, 'me')}/",
        _statuses(403, 404, 200, 404, pending=404),
    ),
    Route(
        "GET",
        "api-care-case",
        lambda w: f"/api/care/cases/{_members_case(w, 'group')}/",
        _statuses(403, 404, 200, 200, pending=404),
    ),
    Route(
        "POST",
        "api-care-messages",
        lambda w: f"/api/care/cases/{_members_case(w, 'me')}/messages/",
        _statuses(403, 404, 201, 404, pending=404),
        lambda w: {"body": "Any news?"},
    ),
    # The same check as a page a person reads ("Check this ticket"): anyone with the code.
    Route(
        "GET",
        "ticket_check",
        lambda w: _ticket_url(w).replace("/api/tickets/verify/", "/tickets/check/"),
        _statuses(200, 200, 200, 200),
    ),
    Route(
        "GET",
        "ticket_check",
        lambda w: "/tickets/check/FORGEDCODE:not-a-signature/",
        _statuses(400, 400, 400, 400),
    ),
]


def _members_case(w, visibility: str) -> int:
    """A care case the world's member opened about the world trip."""
    from care.commands import case_open_run

    data = {"body": "Help", "visibility": visibility}
    return case_open_run(user=w.member, trip_id=w.trip.pk, data=data).pk


# Pages (frontend/urls_trips.py, urls_account.py): a browser's view of the same rules.
# Anonymous callers are sent to log in (302) where a page needs a login; a private trip
# is the 404 page for a stranger; a refused action re-renders the trip page with the
# service's status (403 for a member doing an organiser's action, 409 for an organiser
# leaving without handing over).
LOGIN = 302


# Paying: the world trip made ready for checkout (its train settled, everyone seated), then
# started, and the member's personal pay link: the token is the secret, whoever holds it.
def _checkout_ready(w) -> None:
    from booking import plan

    plan.poll_settle(
        trip_id=w.trip.pk, by=w.organiser, leg="outbound", departure_id=_polled(w)[0].pk
    )
    plan.sit_together(trip_id=w.trip.pk, user=w.organiser, leg="outbound")


def _pay_token(w) -> str:
    from payments import services as payment_services

    _checkout_ready(w)
    checkout = payment_services.checkout_start(trip_id=w.trip.pk, by=w.organiser)
    return payment_services.pay_link_token(checkout=checkout, payer=w.member)


def _checkout_body(w) -> dict:
    _checkout_ready(w)
    return {"deadline_hours": "24", "policy": "go_ahead"}


def _members_ticket(w) -> int:
    """The member's ticket on the world trip, booked straight through booking's service
    (no checkout, no Stripe): cancelling it refunds nothing, so no sandbox is needed."""
    from booking.models import SeatAllocation
    from booking.services import TicketItem, booking_confirm

    _checkout_ready(w)
    allocation = SeatAllocation.objects.get(leg__trip=w.trip, user=w.member, state="held")
    fare = allocation.leg.fares.get(user=w.member)
    booking = booking_confirm(
        trip_id=w.trip.pk,
        items=[
            TicketItem(
                allocation_id=allocation.pk,
                traveller_id=w.member.pk,
                leg_id=allocation.leg_id,
                fare_class_id=fare.fare_class_id,
                passenger_type_id=fare.passenger_type_id,
                discount_card_id=None,
                price_cents=4500,
                currency="EUR",
            )
        ],
    )
    return booking.tickets.get().pk


def _pay_started(w) -> None:
    from payments import services as payment_services

    _checkout_ready(w)
    payment_services.checkout_start(trip_id=w.trip.pk, by=w.organiser)


PAY_ROUTES = [
    Route(
        "POST",
        "trip_checkout_start",
        lambda w: f"/trips/{w.trip.pk}/checkout/",
        _statuses(LOGIN, 404, 403, 302, pending=403),
        _checkout_body,
    ),
    Route("GET", "pay", lambda w: f"/pay/{_pay_token(w)}/", _statuses(200, 200, 200, 200)),
    Route("GET", "pay", lambda w: "/pay/forged-token/", _statuses(404, 404, 404, 404)),
    # No share chosen: refused before Stripe (the sandbox is not needed here).
    Route(
        "POST", "pay_start", lambda w: f"/pay/{_pay_token(w)}/start/", _statuses(400, 400, 400, 400)
    ),
    Route("POST", "pay_start", lambda w: "/pay/forged-token/start/", _statuses(404, 404, 404, 404)),
    # Someone else's (or no) payment: not found.
    Route(
        "POST",
        "pay_sync",
        lambda w: f"/pay/{_pay_token(w)}/sync/",
        _statuses(404, 404, 404, 404),
        lambda w: {"payment_id": "1"},
    ),
    # The trip page's checkout panel (plan.js fetches it on payment events): the trip's
    # active travellers, as the trip page's plan.
    Route(
        "GET",
        "trip_checkout_panel",
        lambda w: (_pay_started(w), f"/trips/{w.trip.pk}/checkout/panel/")[1],
        _statuses(LOGIN, 404, 200, 200, pending=403),
    ),
    # Cancelling a ticket: its traveller only (the organiser neither). The page's POST
    # answers with a redirect to the result; the API's GET is the quote.
    Route(
        "GET",
        "ticket_cancel",
        lambda w: f"/tickets/{_members_ticket(w)}/cancel/",
        _statuses(LOGIN, 404, 200, 404),
    ),
    Route(
        "POST",
        "ticket_cancel",
        lambda w: f"/tickets/{_members_ticket(w)}/cancel/",
        _statuses(LOGIN, 404, 302, 404),
    ),
    Route(
        "GET",
        "api-ticket-cancel",
        lambda w: f"/api/tickets/{_members_ticket(w)}/cancel/",
        _statuses(403, 404, 200, 404),
    ),
    Route(
        "POST",
        "api-ticket-cancel",
        lambda w: f"/api/tickets/{_members_ticket(w)}/cancel/",
        _statuses(403, 404, 200, 404),
    ),
]
PAGE_ROUTES = [
    Route("GET", "my_trips", lambda w: "/trips/", _statuses(LOGIN, 200, 200, 200)),
    Route("GET", "trip_new", lambda w: "/trips/new/", _statuses(LOGIN, 200, 200, 200)),
    Route(
        "GET",
        "trip",
        lambda w: f"/trips/{w.trip.pk}/",
        _statuses(404, 404, 200, 200, pending=200),
    ),
    Route(
        "GET",
        "trip",
        lambda w: f"/trips/{w.trip.pk}/",
        _statuses(200, 200, 200, 200),
        world="public",
    ),
    Route(
        "POST",
        "trip_join_public",
        lambda w: f"/trips/{w.trip.pk}/join/",
        _statuses(LOGIN, 302, 302, 302),
        world="public",
    ),
    Route(
        "POST",
        "trip_join_public",
        lambda w: f"/trips/{w.trip.pk}/join/",
        _statuses(LOGIN, 404, 302, 302),
    ),
    Route(
        "POST",
        "trip_leave",
        lambda w: f"/trips/{w.trip.pk}/leave/",
        _statuses(LOGIN, 404, 302, 409, pending=302),
    ),
    Route(
        "POST",
        "trip_settings",
        lambda w: f"/trips/{w.trip.pk}/settings/",
        _statuses(LOGIN, 404, 403, 302),
        lambda w: {"privacy": "private", "max_members": 9},
    ),
    Route(
        "POST",
        "trip_share_details",
        lambda w: f"/trips/{w.trip.pk}/share-details/",
        _statuses(LOGIN, 404, 302, 302, pending=403),
        lambda w: {"shares_details": "on"},
    ),
    Route(
        "POST",
        "trip_invite",
        lambda w: f"/trips/{w.trip.pk}/invitations/",
        _statuses(LOGIN, 404, 403, 200),
        lambda w: {"channel": "link"},
    ),
    Route(
        "POST",
        "trip_invite_friend",
        lambda w: f"/trips/{w.trip.pk}/invitations/friend/",
        _statuses(LOGIN, 404, 404, 404),
        lambda w: {"user_id": w.stranger.pk},
    ),
    Route(
        "POST",
        "trip_invitation_revoke",
        lambda w: f"/trips/{w.trip.pk}/invitations/{w.invitation.pk}/revoke/",
        _statuses(LOGIN, 404, 403, 302),
    ),
    Route(
        "POST",
        "trip_member_approve",
        lambda w: f"/trips/{w.trip.pk}/members/approve/",
        _statuses(LOGIN, 404, 403, 302),
        lambda w: {"user_id": w.pending.pk},
    ),
    Route(
        "POST",
        "trip_member_reject",
        lambda w: f"/trips/{w.trip.pk}/members/decline/",
        _statuses(LOGIN, 404, 403, 302),
        lambda w: {"user_id": w.pending.pk},
    ),
    Route(
        "POST",
        "trip_member_remove",
        lambda w: f"/trips/{w.trip.pk}/members/remove/",
        _statuses(LOGIN, 404, 403, 302),
        lambda w: {"user_id": w.member.pk},
    ),
    Route(
        "GET",
        "trip_member_remove_confirm",
        lambda w: f"/trips/{w.trip.pk}/members/{w.member.pk}/remove/",
        _statuses(LOGIN, 404, 403, 200),
    ),
    Route(
        "GET",
        "trip_member_make_organiser_confirm",
        lambda w: f"/trips/{w.trip.pk}/members/{w.member.pk}/organiser/",
        _statuses(LOGIN, 404, 403, 200),
    ),
    Route(
        "POST",
        "trip_member_make_organiser",
        lambda w: f"/trips/{w.trip.pk}/members/organiser/",
        _statuses(LOGIN, 404, 403, 302),
        lambda w: {"user_id": w.member.pk},
    ),
    Route(
        "POST",
        "invitation_accept_personal",
        lambda w: f"/trips/invitations/{w.personal.pk}/accept/",
        _statuses(LOGIN, 302, 404, 404),
    ),
    # The live plan's forms (for browsers without JavaScript): a vote.
    Route(
        "POST",
        "trip_plan_action",
        lambda w: f"/trips/{w.trip.pk}/plan/",
        _statuses(LOGIN, 404, 302, 302, pending=403),
        lambda w: {**_option_body(w), "action": "vote"},
    ),
    Route("GET", "join", lambda w: f"/join/{w.token}/", _statuses(200, 200, 302, 302)),
    Route("POST", "join", lambda w: f"/join/{w.token}/", _statuses(LOGIN, 302, 302, 302)),
    Route("GET", "join", lambda w: "/join/forged-token/", _statuses(404, 404, 404, 404)),
    Route("GET", "event", lambda w: f"/events/{w.event.slug}/", _statuses(200, 200, 200, 200)),
    Route("GET", "my_account", lambda w: "/account/", _statuses(LOGIN, 200, 200, 200)),
    Route(
        "GET", "my_account_data", lambda w: "/account/data.json", _statuses(LOGIN, 200, 200, 200)
    ),
    Route(
        "GET", "my_account_delete", lambda w: "/account/delete/", _statuses(LOGIN, 200, 200, 200)
    ),
    # The person's own e-mail choice: anyone logged in, for themselves only.
    Route(
        "POST",
        "my_account_messages",
        lambda w: "/account/messages/",
        _statuses(LOGIN, 302, 302, 302),
        lambda w: {"email_updates": "on"},
    ),
]

# The referrals dashboard (referrals/dashboard.py): staff with referrals.view_dashboard only.
STAFF_ROUTES = [
    Route(
        "GET",
        "api-referrals-dashboard",
        lambda w: "/api/referrals/dashboard/",
        _statuses(403, 403, 403, 403, staff=200, staff_unpermitted=403),
    ),
    Route(
        "GET",
        "referrals_dashboard",
        lambda w: "/staff/referrals/",
        _statuses(LOGIN, 403, 403, 403, staff=200, staff_unpermitted=403),
    ),
    Route(
        "GET",
        "referrals_dashboard_csv",
        lambda w: "/staff/referrals/export.csv",
        _statuses(LOGIN, 403, 403, 403, staff=200, staff_unpermitted=403),
    ),
    Route(
        "POST",
        "referrals_dashboard_refresh",
        lambda w: "/staff/referrals/refresh/",
        _statuses(LOGIN, 403, 403, 403, staff=302, staff_unpermitted=403),
    ),
]

# Disruptions (docs/disruptions.md). The operator's API: staff with the permission to
# change departures (the permitted staff account has it). The travellers' choices: the
# world's member has a ticket whose train is not disrupted, so there is nothing to choose
# (404 choice_not_found), and no disruption 999999 (re-routing finds nothing to do).
NO_DISRUPTION = 999_999
DISRUPTION_ROUTES = [
    Route(
        "POST",
        "api-staff-departure-cancel",
        lambda w: f"/api/staff/departures/{_trains(w)[0].pk}/cancel/",
        _statuses(403, 403, 403, 403, staff=200, staff_unpermitted=403),
    ),
    Route(
        "POST",
        "api-staff-departure-delay",
        lambda w: f"/api/staff/departures/{_trains(w)[0].pk}/delay/",
        _statuses(403, 403, 403, 403, staff=400, staff_unpermitted=403),
    ),
    Route(
        "POST",
        "api-staff-departure-vehicle",
        lambda w: f"/api/staff/departures/{_trains(w)[0].pk}/vehicle/",
        _statuses(403, 403, 403, 403, staff=400, staff_unpermitted=403),
    ),
    Route(
        "GET",
        "api-staff-departure-disruptions",
        lambda w: f"/api/staff/departures/{_trains(w)[0].pk}/disruptions/",
        _statuses(403, 403, 403, 403, staff=200, staff_unpermitted=403),
    ),
    Route(
        "POST",
        "api-ticket-disruption-refund",
        lambda w: f"/api/tickets/{_members_ticket(w)}/disruption-refund/",
        _statuses(403, 404, 404, 404),
    ),
    Route(
        "POST",
        "ticket_disruption_refund",
        lambda w: f"/tickets/{_members_ticket(w)}/disruption-refund/",
        _statuses(LOGIN, 404, 404, 404),
    ),
    Route(
        "POST",
        "api-ticket-reroute",
        lambda w: f"/api/tickets/{_members_ticket(w)}/reroute/",
        _statuses(403, 404, 404, 404),
    ),
    Route(
        "POST",
        "ticket_reroute",
        lambda w: f"/tickets/{_members_ticket(w)}/reroute/",
        _statuses(LOGIN, 404, 404, 404),
    ),
    Route(
        "GET",
        "api-trip-reroute",
        lambda w: f"/api/trips/{w.trip.pk}/disruptions/{NO_DISRUPTION}/reroute/",
        _statuses(403, 404, 200, 200),
    ),
    Route(
        "POST",
        "api-trip-reroute",
        lambda w: f"/api/trips/{w.trip.pk}/disruptions/{NO_DISRUPTION}/reroute/",
        _statuses(403, 404, 404, 404),
        lambda w: {"departure_id": 1},
    ),
    Route(
        "POST",
        "trip_reroute_propose",
        lambda w: f"/trips/{w.trip.pk}/disruptions/{NO_DISRUPTION}/reroute/",
        _statuses(LOGIN, 404, 404, 404),
        lambda w: {"departure_id": "1"},
    ),
    Route(
        "POST",
        "api-trip-reroute-seat",
        lambda w: f"/api/trips/{w.trip.pk}/reroute/seat/",
        _statuses(403, 404, 409, 409),
    ),
    Route(
        "POST",
        "trip_reroute_seat",
        lambda w: f"/trips/{w.trip.pk}/reroute/seat/",
        _statuses(LOGIN, 404, 302, 302),
    ),
    # A late train's compensation as credit (art. 19(4)): only a traveller with a ticket
    # on that train; anyone else, whatever their role, finds nothing to choose.
    Route(
        "POST",
        "trip_compensation_form",
        lambda w: f"/trips/{w.trip.pk}/disruptions/{NO_DISRUPTION}/compensation/",
        _statuses(LOGIN, 404, 404, 404),
        lambda w: {"form": "credit"},
    ),
]

ROUTES = ROUTES + PAGE_ROUTES + PAY_ROUTES + STAFF_ROUTES + DISRUPTION_ROUTES
ROWS = [row for route in ROUTES for row in route.rows()]
# A link trip is reached through its invitation only: to anyone outside it every route
# answers as for a private trip (a 404, never a 403 that would tell that the id exists),
# while its link still opens the join page.
ROWS += [
    dataclasses.replace(row, world="link")
    for row in ROWS
    if row.world == "private" and row.role in ("anonymous", "stranger")
]
ROUTES_COVERED = {(row.name, row.method) for row in ROWS}


def _world(kind: str) -> SimpleNamespace:
    organiser = factories.user("Olivia Organiser")
    trip = factories.trip(organiser=organiser, privacy=kind)
    member = factories.member(trip, "Fred Friend")
    services.group_update(group_id=trip.group_id, by=organiser, requires_approval=True)
    pending = factories.member(trip, "Wanda Waiting")
    stranger = factories.user("Sam Stranger")
    invitation, token = services.invitation_create(group_id=trip.group_id, by=organiser)
    event = factories.event()
    personal, _ = services.invitation_create(
        group_id=trip.group_id, by=organiser, invitee=stranger, channel="facebook_friend"
    )
    return SimpleNamespace(
        trip=trip,
        group=trip.group,
        organiser=organiser,
        member=member,
        pending=pending,
        stranger=stranger,
        anonymous=None,
        invitation=invitation,
        token=token,
        personal=personal,
        day=trip.outbound_from.isoformat(),
        event=event,
        staff=_staff(permitted=True),
        staff_unpermitted=_staff(permitted=False),
    )


def _staff(*, permitted: bool):
    from django.contrib.auth.models import Permission

    account = factories.user("Stella Staff" if permitted else "Steve Staff")
    account.is_staff = True
    account.save()
    if permitted:
        account.user_permissions.add(
            Permission.objects.get(content_type__app_label="referrals", codename="view_dashboard"),
            # The operator's disruptions API (booking/disruption_api.py).
            Permission.objects.get(content_type__app_label="booking", codename="change_departure"),
        )
    return account


def _row_id(row: Row) -> str:
    return f"{row.method} {row.name} {row.world} as {row.role}"


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_each_route_answers_each_caller_as_the_table_says(row):
    world = _world(row.world)
    client = APIClient()
    user = getattr(world, row.role)
    if user is not None:
        client.force_login(user)

    call = getattr(client, row.method.lower())
    if row.name.startswith("api-"):
        response = call(row.url(world), row.body(world) if row.body else None, format="json")
    else:  # a page: a browser's form post
        response = call(row.url(world), row.body(world) if row.body else {})

    assert response.status_code == row.status, response.content
    if row.name.startswith("api-"):
        assert_documented(row, response)
    if row.status >= 400 and row.name.startswith("api-"):
        error = response.json()["error"]
        assert set(error) >= {"code", "message"}
        if row.role == "anonymous" and row.status == 403:
            assert error["code"] == "not_authenticated"


_SCHEMA = None


def assert_documented(row: Row, response) -> None:
    """The answer's status is one the OpenAPI schema documents, and its body matches."""
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    routes = {pattern.name: route for route, pattern in _routes(get_resolver().url_patterns)}
    template = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", routes[row.name])
    operation = _SCHEMA[template][row.method]
    assert str(response.status_code) in operation.definition.raw["responses"], template
    request = requests.Request(row.method, f"http://testserver{template}").prepare()
    headers = {key.lower(): [value] for key, value in response.headers.items()}
    operation.validate_response(
        SchemaResponse(response.status_code, headers, response.content, request, 0.0, False)
    )


def test_each_route_in_the_table_names_every_caller():
    for route in ROUTES:
        assert set(ROLES) <= set(route.statuses), (route.method, route.name)


def _routes(patterns, prefix: str = ""):
    """(full route, URL pattern) of every URL, included ones too."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _methods(pattern: URLPattern) -> set[str]:
    view_class = getattr(pattern.callback, "view_class", None)
    if view_class is None:
        return {"ANY"}  # a function view (a page): at least one row, whatever its method
    return {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)}


def uncovered_routes(patterns, covered) -> list[str]:
    """Routes under ``CHECKED_PREFIXES`` (other than ``NOT_IN_TABLE``) and methods with no
    row in ``covered``: a set of (URL name, method)."""
    missing = []
    for route, pattern in _routes(patterns):
        if not route.startswith(CHECKED_PREFIXES) or pattern.name in NOT_IN_TABLE:
            continue
        if not pattern.name:
            missing.append(f"{route} (no URL name: give it one and rows in the table)")
            continue
        for method in sorted(_methods(pattern)):
            if method == "ANY":
                if not any(name == pattern.name for name, _method in covered):
                    missing.append(f"{route} ({pattern.name})")
            elif (pattern.name, method) not in covered:
                missing.append(f"{method} {route} ({pattern.name})")
    return missing


def test_every_route_has_rows_in_the_table():
    assert uncovered_routes(get_resolver().url_patterns, ROUTES_COVERED) == []


def test_the_coverage_check_catches_a_route_without_rows():
    from groups import api

    patterns = [
        path("api/", api.GroupApi.as_view(), name="api-group"),
        path("api/new-thing/<int:pk>/", api.GroupLeaveApi.as_view(), name="api-new-thing"),
        path("api/nameless/", api.GroupLeaveApi.as_view()),
        path("api/stations/", api.GroupLeaveApi.as_view(), name="api-stations"),
        path("elsewhere/", api.GroupLeaveApi.as_view(), name="page"),
    ]

    assert uncovered_routes(patterns, ROUTES_COVERED) == [
        "POST api/new-thing/<int:pk>/ (api-new-thing)",
        "api/nameless/ (no URL name: give it one and rows in the table)",
    ]
    assert uncovered_routes(patterns[:1], set()) == ["PATCH api/ (api-group)"]
