"""Mounted at ``/payments/`` by ``config/urls.py``."""

from django.urls import path

from payments import webhooks

app_name = "payments"

urlpatterns = [
    path("stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
]
