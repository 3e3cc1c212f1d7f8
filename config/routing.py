"""Websocket URL routes. Each app's consumers are listed here."""

websocket_urlpatterns: list = []
