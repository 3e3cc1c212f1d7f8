from django.urls import path

from notices import views

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="messages_unsubscribe"),
]
