"""Websocket URL routes. Each app's consumers are listed here."""

from django.urls import path

from booking.consumers import DepartureConsumer, TripConsumer

websocket_urlpatterns: list = [
    path("ws/trips/<int:trip_id>/", TripConsumer.as_asgi()),
    path("ws/departures/<int:departure_id>/", DepartureConsumer.as_asgi()),
]
