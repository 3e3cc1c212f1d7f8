"""The payments' API routes, mounted under ``/api/`` (config/urls.py)."""

from django.urls import path

from payments import api

urlpatterns = [
    path(
        "tickets/<int:ticket_id>/cancel/",
        api.TicketCancelApi.as_view(),
        name="api-ticket-cancel",
    ),
    path(
        "tickets/<int:ticket_id>/disruption-refund/",
        api.TicketDisruptionRefundApi.as_view(),
        name="api-ticket-disruption-refund",
    ),
]
