"""The service worker of Web Push (``frontend/static/frontend/sw.js``), served from the
site's root so that its scope is the whole site (a worker under /static/ could only
control /static/). It shows pushed notifications and opens the trip on a tap."""

from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.http import require_GET

WORKER = Path(__file__).resolve().parent / "static" / "frontend" / "sw.js"


@require_GET
def service_worker(request):
    response = HttpResponse(WORKER.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    # A browser checks for a new worker at most once a day anyway; never a stale one.
    response["Cache-Control"] = "no-cache"
    return response
