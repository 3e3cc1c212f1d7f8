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
    path("pay/<str:token>/", views.pay, name="pay"),
    path("pay/<str:token>/start/", views.pay_start, name="pay_start"),
    path("pay/<str:token>/sync/", views.pay_sync, name="pay_sync"),
]
