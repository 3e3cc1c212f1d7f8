from django.urls import path

from frontend import views

urlpatterns = [
    path("", views.home, name="home"),
    path("departures/<int:departure_id>/", views.departure, name="departure"),
]
