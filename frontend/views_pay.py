"""Paying for a trip: the organiser's "Start checkout", the checkout and the tickets on the
trip page, and each payer's pay page ``/pay/<token>/`` (docs/frontend.md, "Paying").

Thin like the other views: reads through ``payments.selectors``, writes through
``payments.services``; a domain error becomes a message on the page (or a JSON error for
the pay page's script) with its status code.

Cancelling a ticket (``/tickets/<id>/cancel/``) needs its traveller logged in: a pay link
may be forwarded (to a friend who covers a share), and giving a seat up is the
traveller's own decision. The page states the refund first (``ticket_cancel_quote``), the
POST cancels (``services.ticket_cancel``) and redirects to the same page, which then
shows what was done: submitting twice refunds once.

The pay page works without a login: its signed token names the checkout and the payer
(``pay_link_read``). Card details never reach this server: the browser hands them to
Stripe.js, and only Stripe's ids come here (a PaymentMethod ``pm_…``, or with the local
sandbox's Stripe.js mock, the ``card_…`` of a token made by ``createToken``).
"""

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
    require_safe,
)

from booking.api import TicketVerifyApi
from booking.errors import TicketNotFound
from booking.tickets import ticket_verify
from core.errors import DomainError
from frontend import trip_page
from payments import selectors, services
from payments.errors import PayLinkInvalid

# What the browser may send as a card: Stripe's ids only, never card numbers.


@gzip_page
@login_required
@require_GET
def checkout_panel(request, trip_id: int):
    """The trip page's checkout part alone (``plan/_checkout.html``): plan.js fetches it
    when the live plan hears a checkout event (``checkout_started``, ``shares_changed``…)
    and swaps it in, so the statuses and the viewer's next step change without a reload.
    Active travellers only, as the trip page shows it to them."""
    from booking.plan_selectors import plan_snapshot

    view = trip_page.trip_view(request, trip_id)  # 404 for who may not see the trip
    if not view.access.is_member:
        raise PermissionDenied
    context = {"trip": view.trip, "access": view.access}
    if selectors.checkout_current(trip_id=view.trip.pk) is None:
        # The organiser's start form needs the legs (is every train chosen?).
        context["plan"] = plan_snapshot(user=request.user, trip_id=view.trip.pk)
    context.update(trip_page.checkout_context(request, view.trip, context))
    return render(request, "frontend/plan/_checkout.html", context)


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
@require_POST
def checkout_start(request, trip_id: int):

    view = trip_page.trip_view(request, trip_id)  # 404 for who may not see the trip
    hours = _int_or_none(request.POST.get("deadline_hours", ""))
    policy = request.POST.get("policy", "")[:20]
    if hours is None:
        return trip_page.render_trip(
            request,
            trip_id,
            status=400,
            checkout_error=_("Choose a deadline in hours, as a number."),
        )
    try:
        services.checkout_start(
            trip_id=view.trip.pk, by=request.user, deadline_hours=hours, policy=policy
        )
    except DomainError as exc:
        return trip_page.render_trip(
            request, trip_id, status=exc.status, checkout_error=exc.message
        )
    return redirect(reverse("trip", args=[trip_id]) + "#checkout")


# What the browser may send as a card: Stripe's ids only, never card numbers.
PAYMENT_METHOD_ID = re.compile(r"^(pm|card|src)_[A-Za-z0-9_]{1,200}$")


# --- The pay page ------------------------------------------------------------------------


def _link(token: str):
    return selectors.pay_link_read(token=token[:500])


def _refused(request, exc: DomainError):
    return render(request, "frontend/pay/invalid.html", {"message": exc.message}, status=exc.status)


def _json_error(exc: DomainError) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": exc.code, "message": str(exc.message)}}, status=exc.status
    )


@require_GET
def pay(request, token: str):
    try:
        link = _link(token)
    except PayLinkInvalid as exc:
        return _refused(request, exc)
    # "Cover this share" asks the page again with ``?cover=<share id>``: only then does a
    # friend's amount show (unless they show their details to the group).
    cover_ids = [n for n in map(_int_or_none, request.GET.getlist("cover")[:50]) if n]
    page = selectors.checkout_page(checkout=link.checkout, viewer=link.payer, cover_ids=cover_ids)
    tickets = selectors.traveller_tickets(checkout=link.checkout, traveller=link.payer)
    context = {
        "link": link,
        "trip": link.checkout.trip,
        "page": page,
        "payer_name": next((t.name for t in page.travellers if t.is_me), ""),
        "is_open": link.checkout.state in services.OPEN_STATES,
        "can_pay_mine": page.mine is not None and page.my_status == "unpaid",
        "standing": selectors.travel_standing(user=link.payer, trip_id=link.checkout.trip_id),
        "tickets": trip_page.ticket_rows(request, tickets),
        "stripe_js_url": settings.STRIPE_JS_URL,
        "stripe_key": settings.STRIPE_PUBLISHABLE_KEY,
        "stripe_sandbox": settings.STRIPE_SANDBOX,
        "cover_query": "".join(f"cover={n}&" for n in cover_ids),
        "start_url": reverse("pay_start", args=[token]),
        "sync_url": reverse("pay_sync", args=[token]),
    }
    return render(request, "frontend/pay/pay.html", context)


@require_POST
def pay_start(request, token: str):
    """The payer's selected shares → one PaymentIntent. With ``payment_method`` (a Stripe
    id the page made) it is confirmed here; the answer says what the page does next:
    ``requires_capture`` done, ``requires_action`` the bank's check with Stripe.js,
    ``requires_payment_method`` confirm the card with Stripe.js."""
    try:
        link = _link(token)
    except PayLinkInvalid as exc:
        return _json_error(exc)
    share_ids = [n for n in map(_int_or_none, request.POST.getlist("shares")[:50]) if n]
    payment_method = request.POST.get("payment_method", "") or None
    if payment_method is not None and not PAYMENT_METHOD_ID.match(payment_method):
        return JsonResponse(
            {"error": {"code": "invalid", "message": _("This card could not be read.")}},
            status=400,
        )
    try:
        started = services.payment_start(
            checkout_id=link.checkout.pk,
            payer=link.payer,
            share_ids=share_ids,
            payment_method=payment_method,
        )
    except DomainError as exc:
        return _json_error(exc)
    return JsonResponse(
        {
            "payment_id": started.payment.pk,
            "status": started.status,
            "state": started.payment.state,
            "client_secret": started.client_secret,
        }
    )


@require_POST
def pay_sync(request, token: str):
    """After Stripe.js: read the PaymentIntent again and say where the payment stands."""
    try:
        link = _link(token)
        payment = selectors.payment_of_payer(
            checkout=link.checkout, payer=link.payer, payment_id=request.POST.get("payment_id")
        )
        payment = services.payment_sync(payment_id=payment.pk)
    except DomainError as exc:
        return _json_error(exc)
    message = ""
    if payment.state == "failed":
        message = _("Your card was declined. Please try another card.")
    return JsonResponse({"payment_id": payment.pk, "state": payment.state, "message": message})


# --- Cancelling a ticket -------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def ticket_cancel(request, ticket_id: int):
    """GET: the ticket and exactly what cancelling it refunds (or that it refunds nothing);
    once cancelled, what was done. POST: cancel, then back to the GET (which shows the
    result). Only the ticket's traveller; anyone else gets the 404 page."""
    try:
        quote = selectors.ticket_cancel_quote(ticket_id=ticket_id, viewer=request.user)
    except TicketNotFound as exc:
        raise Http404(str(exc.message)) from exc
    if request.method == "POST":
        try:
            services.ticket_cancel(ticket_id=ticket_id, by=request.user)
        except TicketNotFound as exc:
            raise Http404(str(exc.message)) from exc
        except DomainError as exc:
            return _ticket_cancel_page(request, quote, status=exc.status, error=exc.message)
        return redirect(reverse("ticket_cancel", args=[ticket_id]))
    return _ticket_cancel_page(request, quote)


def _ticket_cancel_page(request, quote, *, status: int = 200, error: str = ""):
    ticket = quote.ticket
    departure = ticket.allocation.departure
    context = {
        "quote": quote,
        "ticket": ticket,
        "departure": departure,
        "coach": ticket.allocation.seat.coach.number,
        "seat": ticket.allocation.seat.number,
        "seat_name": ticket.allocation.seat.name,
        "error": error,
        "back_url": reverse("trip", args=[ticket.booking.trip_id]) + "#checkout",
    }
    return render(request, "frontend/pay/ticket_cancel.html", context, status=status)


# --- Checking a ticket -------------------------------------------------------------------------


def _wants_json(request) -> bool:
    """A scanner asks for JSON (``Accept: application/json``); a browser, which accepts
    both HTML and anything, gets the page."""
    accepted = request.get_preferred_type(["text/html", "application/json"])
    return accepted == "application/json"


@require_safe
def ticket_check(request, signed: str):
    """What the ticket's QR code and its "Check this ticket" link open: valid or not, the
    traveller, the train, the coach and seat. Anyone holding the code may read it (the
    signature is the secret, as for the API). A scanner that asks for JSON gets the API's
    answer (``api-ticket-verify``), one shape for both."""
    if _wants_json(request):
        return TicketVerifyApi.as_view()(request, signed=signed)
    try:
        check = ticket_verify(signed=signed)
    except DomainError as exc:
        return render(
            request,
            "frontend/pay/ticket_check.html",
            {"error": exc.message},
            status=exc.status,
        )
    return render(request, "frontend/pay/ticket_check.html", {"check": check})


@login_required
@require_POST
def ticket_disruption_refund(request, ticket_id: int):
    """The banner's "Refund me in full" (a cancelled train, docs/disruptions.md): the
    choice made, then back to the trip page, which shows the result; a refusal (chosen
    already, too late) is shown there as a message. Not the caller's ticket: 404."""
    from django.contrib import messages

    from booking.disruption_selectors import choice_trip_id
    from booking.errors import ChoiceNotFound
    from payments import disruptions

    try:
        trip_id = choice_trip_id(ticket_id=ticket_id, user=request.user)
        disruptions.disruption_refund_choose(ticket_id=ticket_id, by=request.user)
    except ChoiceNotFound as exc:
        raise Http404(str(exc.message)) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Your ticket is cancelled and refunded in full."))
    return redirect(reverse("trip", args=[trip_id]) + "#disruptions")


def _back_to_trip(request, trip_id: int, call) -> object:
    """Run a disruption service for the banner's forms; its refusal is shown as a message
    on the trip page, where the banner says what is now true."""
    from django.contrib import messages

    try:
        call()
    except DomainError as exc:
        if exc.status == 404:
            raise Http404(str(exc.message)) from exc
        messages.error(request, exc.message)
    return redirect(reverse("trip", args=[trip_id]) + "#disruptions")


@login_required
@require_POST
def trip_reroute_propose(request, trip_id: int, disruption_id: int):
    """The banner's "Propose this train" (re-routing together, docs/disruptions.md)."""
    from booking import disruptions

    try:
        departure_id = int(request.POST.get("departure_id", ""))
    except ValueError:
        departure_id = 0
    return _back_to_trip(
        request,
        trip_id,
        lambda: disruptions.reroute_propose(
            trip_id=trip_id,
            disruption_id=disruption_id,
            departure_id=departure_id,
            by=request.user,
        ),
    )


@login_required
@require_POST
def ticket_reroute_accept(request, ticket_id: int):
    """The banner's "Travel on this train" for one of my tickets."""
    from booking import disruptions
    from booking.disruption_selectors import choice_trip_id
    from booking.errors import ChoiceNotFound

    try:
        trip_id = choice_trip_id(ticket_id=ticket_id, user=request.user)
    except ChoiceNotFound as exc:
        raise Http404(str(exc.message)) from exc
    return _back_to_trip(
        request,
        trip_id,
        lambda: disruptions.reroute_accept(ticket_id=ticket_id, by=request.user),
    )


@login_required
@require_POST
def trip_reroute_seat(request, trip_id: int):
    """The banner's "Sit us together" on the new train: new tickets for those who chose it."""
    from booking import disruptions

    return _back_to_trip(
        request, trip_id, lambda: disruptions.reroute_seat(trip_id=trip_id, by=request.user)
    )


@login_required
@require_POST
def trip_compensation_form(request, trip_id: int, disruption_id: int):
    """The late train banner's "as credit for a next trip" / "to my card" (art. 19(4),
    docs/disruptions.md): how the viewer wants their compensation, until it is made."""
    from django.contrib import messages

    from payments import disruptions

    def choose():
        preference = disruptions.compensation_preference_set(
            disruption_id=disruption_id, by=request.user, form=request.POST.get("form", "")
        )
        if preference.form == "credit":
            messages.success(request, _("Your compensation will be credit for your next trip."))
        else:
            messages.success(request, _("Your compensation will go back to your card."))

    return _back_to_trip(request, trip_id, choose)
