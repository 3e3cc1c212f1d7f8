"""Web Push subscriptions, mounted at /api/ (docs/messages.md, "Web Push")."""

from django.urls import path

from notices import api

urlpatterns = [
    path("push/subscribe/", api.PushSubscribeApi.as_view(), name="api-push-subscribe"),
    path("push/unsubscribe/", api.PushUnsubscribeApi.as_view(), name="api-push-unsubscribe"),
]
