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
]
