"""Server-rendered pages. They read through the same selectors as the API and hold no
business rules of their own: a domain error becomes a message on the page, never a 500."""

import datetime as dt

from django.conf import settings
from django.http import Http404, HttpResponsePermanentRedirect, HttpResponseServerError
from django.middleware.csp import get_nonce
from django.shortcuts import render
from django.template import loader
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from booking import selectors
from booking.errors import DepartureNotFound
from core.api_errors import json_not_found, json_server_error
from core.errors import DomainError
from frontend.templatetags.travel import status_label


def home(request):
    stations = selectors.station_list()
    params = request.GET
    today = timezone.localdate()
    origin = params.get("origin", "").strip().upper()
    destination = params.get("destination", "").strip().upper()
    raw_date = params.get("date", "").strip()
    context = {
        "stations": stations,
        "events": selectors.event_list(),
        "form": {
            "origin": origin,
            "destination": destination,
            "date": raw_date or today.isoformat(),
        },
        "today": today,
        "max_date": today + dt.timedelta(days=settings.SIDEBYSIDE["SEARCH_MAX_DAYS_AHEAD"]),
        "results": None,
        "error": None,
        "searched": False,
    }
    if origin or destination:
        by_code = {station.code: station for station in stations}
        context["origin_station"] = by_code.get(origin)
        context["destination_station"] = by_code.get(destination)
    if origin and destination:
        context["searched"] = True
        try:
            on_date = dt.date.fromisoformat(raw_date) if raw_date else today
        except ValueError:
            context["error"] = _("That date is not valid. Pick a day in the calendar.")
            return render(request, "frontend/home.html", context)
        context["on_date"] = on_date
        context["next_date"] = on_date + dt.timedelta(days=1)
        try:
            context["results"] = selectors.departure_search(
                origin_code=origin, destination_code=destination, on_date=on_date
            )
        except DomainError as exc:
            context["error"] = exc.message
    elif "origin" in params and "destination" in params:
        # The form sends both fields; a link from an event card sends only the destination.
        context["error"] = _("Choose both the station you leave from and your destination.")
    return render(request, "frontend/home.html", context)


def departure(request, departure_id: int):
    try:
        detail = selectors.departure_detail(departure_id=departure_id)
    except DepartureNotFound as exc:
        raise Http404(str(exc.message)) from exc
    labels = {status: str(status_label(status)) for status in ("free", "held", "sold")}
    return render(
        request, "frontend/departure.html", {"detail": detail, "seat_status_labels": labels}
    )


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return render(request, "frontend/404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return json_server_error(request)
    # Rendered without the request: no context processor, session or database is touched,
    # since any of them may be what just failed.
    # The nonce is an attribute of the request (no session, no database): its style sheet
    # carries it, as the Content-Security-Policy asks.
    context = {"csp_nonce": get_nonce(request)}
    return HttpResponseServerError(loader.get_template("frontend/500.html").render(context))


@require_safe
def favicon(request):
    """``/favicon.ico``, which browsers and link previews ask for whatever the page says:
    the icon's static file, resolved per request (the manifest of hashed names exists only
    after ``collectstatic``)."""
    return HttpResponsePermanentRedirect(static("frontend/icon-32.png"))
