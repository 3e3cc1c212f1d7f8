from django.urls import path

from frontend import views_pay as views

urlpatterns = [
    path("trips/<int:trip_id>/checkout/", views.checkout_start, name="trip_checkout_start"),
    path("pay/<str:token>/", views.pay, name="pay"),
    path("pay/<str:token>/start/", views.pay_start, name="pay_start"),
    path("pay/<str:token>/sync/", views.pay_sync, name="pay_sync"),
]
