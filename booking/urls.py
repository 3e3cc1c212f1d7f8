from django.urls import path

from booking import api, disruption_api, plan_api

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

# The live plan's REST door (booking/plan_api.py): the same services as the websocket.
urlpatterns += [
    path("trips/<int:trip_id>/plan/", plan_api.TripPlanApi.as_view(), name="api-trip-plan"),
    path(
        "trips/<int:trip_id>/plan/events/",
        plan_api.TripPlanEventsApi.as_view(),
        name="api-trip-plan-events",
    ),
    path(
        "trips/<int:trip_id>/plan/poll/",
        plan_api.TripPlanPollApi.as_view(),
        name="api-trip-plan-poll",
    ),
    path(
        "trips/<int:trip_id>/plan/votes/",
        plan_api.TripPlanVotesApi.as_view(),
        name="api-trip-plan-votes",
    ),
    path(
        "trips/<int:trip_id>/plan/settle/",
        plan_api.TripPlanSettleApi.as_view(),
        name="api-trip-plan-settle",
    ),
    path(
        "trips/<int:trip_id>/plan/fare/",
        plan_api.TripPlanFareApi.as_view(),
        name="api-trip-plan-fare",
    ),
    path(
        "trips/<int:trip_id>/plan/seat/",
        plan_api.TripPlanSeatApi.as_view(),
        name="api-trip-plan-seat",
    ),
    path(
        "trips/<int:trip_id>/plan/sit-together/",
        plan_api.TripPlanSitTogetherApi.as_view(),
        name="api-trip-plan-sit-together",
    ),
]

# Tickets: anyone holding a ticket's signed code (its QR code) may check it.
urlpatterns += [
    path(
        "tickets/verify/<str:signed>/",
        api.TicketVerifyApi.as_view(),
        name="api-ticket-verify",
    ),
]

# The operator's disruptions (staff only): booking/disruption_api.py, docs/disruptions.md.
urlpatterns += [
    path(
        "staff/departures/<int:departure_id>/cancel/",
        disruption_api.DepartureCancelApi.as_view(),
        name="api-staff-departure-cancel",
    ),
    path(
        "staff/departures/<int:departure_id>/delay/",
        disruption_api.DepartureDelayApi.as_view(),
        name="api-staff-departure-delay",
    ),
    path(
        "staff/departures/<int:departure_id>/vehicle/",
        disruption_api.DepartureVehicleSwapApi.as_view(),
        name="api-staff-departure-vehicle",
    ),
    path(
        "staff/departures/<int:departure_id>/disruptions/",
        disruption_api.DepartureDisruptionsApi.as_view(),
        name="api-staff-departure-disruptions",
    ),
]

# Re-routing after a cancellation (the travellers'): booking/disruption_api.py.
urlpatterns += [
    path(
        "trips/<int:trip_id>/disruptions/<int:disruption_id>/reroute/",
        disruption_api.TripRerouteApi.as_view(),
        name="api-trip-reroute",
    ),
    path(
        "trips/<int:trip_id>/reroute/seat/",
        disruption_api.TripRerouteSeatApi.as_view(),
        name="api-trip-reroute-seat",
    ),
    path(
        "tickets/<int:ticket_id>/reroute/",
        disruption_api.TicketRerouteApi.as_view(),
        name="api-ticket-reroute",
    ),
]
