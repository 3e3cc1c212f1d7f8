from django.urls import path

from notices import views

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="messages_unsubscribe"),
    path("mailbox/", views.local_mailbox, name="local_mailbox"),
    path("mailbox/<str:key>/", views.local_mailbox_message, name="local_mailbox_message"),
]
