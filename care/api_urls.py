"""Care's API routes, mounted under ``/api/`` (config/urls.py)."""

from django.urls import path

from care import api

urlpatterns = [
    path("trips/<int:trip_id>/care/cases/", api.TripCasesApi.as_view(), name="api-care-open"),
    path("care/cases/<int:case_id>/", api.CaseApi.as_view(), name="api-care-case"),
    path(
        "care/cases/<int:case_id>/messages/",
        api.CaseMessagesApi.as_view(),
        name="api-care-messages",
    ),
]
