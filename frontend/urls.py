from django.urls import include, path

from frontend import views

urlpatterns = [
    path("", views.home, name="home"),
    path("departures/<int:departure_id>/", views.departure, name="departure"),
    # Trips, joining by link, events' public trips (frontend/views_trips.py).
    path("", include("frontend.urls_trips")),
    # The account page: download one's data, delete one's account (views_account.py).
    path("", include("frontend.urls_account")),
    path("", include("frontend.urls_pay")),  # checkout, pay pages (views_pay.py)
]
