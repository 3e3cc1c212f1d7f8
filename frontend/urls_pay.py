from django.urls import path

from frontend import views_pay as views

urlpatterns = [
    path("trips/<int:trip_id>/checkout/", views.checkout_start, name="trip_checkout_start"),
    path(
        "trips/<int:trip_id>/checkout/panel/",
        views.checkout_panel,
        name="trip_checkout_panel",
    ),
    path("tickets/<int:ticket_id>/cancel/", views.ticket_cancel, name="ticket_cancel"),
    # "Check this ticket": a page for a traveller or an inspector; JSON for a scanner.
    path("tickets/check/<str:signed>/", views.ticket_check, name="ticket_check"),
    path(
        "tickets/<int:ticket_id>/disruption-refund/",
        views.ticket_disruption_refund,
        name="ticket_disruption_refund",
    ),
    path("tickets/<int:ticket_id>/reroute/", views.ticket_reroute_accept, name="ticket_reroute"),
    path(
        "trips/<int:trip_id>/disruptions/<int:disruption_id>/reroute/",
        views.trip_reroute_propose,
        name="trip_reroute_propose",
    ),
    path("trips/<int:trip_id>/reroute/seat/", views.trip_reroute_seat, name="trip_reroute_seat"),
    path(
        "trips/<int:trip_id>/disruptions/<int:disruption_id>/compensation/",
        views.trip_compensation_form,
        name="trip_compensation_form",
    ),
    path("pay/<str:token>/", views.pay, name="pay"),
    path("pay/<str:token>/start/", views.pay_start, name="pay_start"),
    path("pay/<str:token>/sync/", views.pay_sync, name="pay_sync"),
]
