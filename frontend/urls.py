from django.urls import include, path

from frontend import views, views_push

urlpatterns = [
    path("", views.home, name="home"),
    # Web Push's service worker, at the root: its scope is the whole site.
    path("sw.js", views_push.service_worker, name="service_worker"),
    # Browsers and link previews ask for /favicon.ico whatever the page says.
    path("favicon.ico", views.favicon, name="favicon"),
    path("departures/<int:departure_id>/", views.departure, name="departure"),
    # Trips, joining by link, events' public trips (frontend/views_trips.py).
    path("", include("frontend.urls_trips")),
    # The account page: download one's data, delete one's account (views_account.py).
    path("", include("frontend.urls_account")),
    path("", include("frontend.urls_pay")),  # checkout, pay pages (views_pay.py)
]
