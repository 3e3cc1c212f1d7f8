"""Websocket URL routes. Each app's consumers are listed here; any other path is refused
cleanly (``NoRouteConsumer``, last)."""

from django.urls import path, re_path

from booking.consumers import DepartureConsumer, TripConsumer
from care.consumers import CaseConsumer, InboxConsumer
from core.consumers import NoRouteConsumer

websocket_urlpatterns: list = [
    path("ws/trips/<int:trip_id>/", TripConsumer.as_asgi()),
    path("ws/departures/<int:departure_id>/", DepartureConsumer.as_asgi()),
    path("ws/care/cases/<int:case_id>/", CaseConsumer.as_asgi()),
    path("ws/care/inbox/", InboxConsumer.as_asgi()),
    re_path(r"", NoRouteConsumer.as_asgi()),
]
