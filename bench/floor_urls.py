"""Root URLconf of a benchmark server: the floor first, then every URL of the app.

The floor is a bare, synchronous Django view with a tiny response. It goes through the
same Daphne, ASGI handler, middleware stack and thread hop as the app's (synchronous) API
views, so ``endpoint_rps / floor_rps`` measured in the same run is the share of the
server's capacity left once the endpoint's own work (queries, serialisation) is added."""

from django.http import HttpResponse
from django.urls import include, path

from config.urls import handler404, handler500

__all__ = ["handler404", "handler500", "urlpatterns"]


def floor(request):
    return HttpResponse(b'{"ok":true}', content_type="application/json")


urlpatterns = [
    path("bench/floor/", floor, name="bench-floor"),
    path("", include("config.urls")),
]
