"""Server-rendered pages. They read through the same selectors as the API and hold no
business rules of their own."""

import datetime as dt

from django.shortcuts import render
from django.utils import timezone

from booking import selectors
from core.api_errors import json_not_found, json_server_error
from core.errors import DomainError


def home(request):
    stations = selectors.station_list()
    params = request.GET
    context = {
        "stations": stations,
        "events": selectors.event_list(),
        "form": {
            "origin": params.get("origin", ""),
            "destination": params.get("destination", ""),
            "date": params.get("date", timezone.localdate().isoformat()),
        },
        "results": None,
        "error": None,
        "searched": False,
    }
    if params.get("origin") and params.get("destination"):
        context["searched"] = True
        try:
            on_date = dt.date.fromisoformat(params.get("date", ""))
            context["results"] = selectors.departure_search(
                origin_code=params["origin"],
                destination_code=params["destination"],
                on_date=on_date,
            )
        except ValueError:
            context["error"] = "bad_date"
        except DomainError as exc:
            context["error"] = exc.message
    return render(request, "frontend/home.html", context)


def departure(request, departure_id: int):
    detail = selectors.departure_detail(departure_id=departure_id)
    return render(request, "frontend/departure.html", {"detail": detail})


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return render(request, "frontend/404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return json_server_error(request)
    return render(request, "frontend/500.html", status=500)
