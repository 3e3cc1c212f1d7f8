from django.urls import path

from booking import api

urlpatterns = [
    path("stations/", api.StationListApi.as_view(), name="api-stations"),
    path("departures/", api.DepartureSearchApi.as_view(), name="api-departures"),
    path("departures/<int:departure_id>/", api.DepartureDetailApi.as_view(), name="api-departure"),
    path(
        "departures/<int:departure_id>/price/",
        api.DeparturePriceApi.as_view(),
        name="api-departure-price",
    ),
    path("events/", api.EventListApi.as_view(), name="api-events"),
    # Trips, and joining a trip's group by an invitation link (its preview shows the trips).
    # The group's own endpoints are in groups/api_urls.py.
    path("trips/", api.TripListApi.as_view(), name="api-trips"),
    path("trips/<int:trip_id>/", api.TripDetailApi.as_view(), name="api-trip"),
    path("join/<str:token>/", api.JoinApi.as_view(), name="api-join"),
]
