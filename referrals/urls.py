from django.urls import path

from referrals import dashboard, views

urlpatterns = [
    path("r/consent/", views.consent, name="referral_consent"),
    path("r/share/<int:trip_id>/preview.png", views.share_preview, name="referral_share_preview"),
    path("r/share/<int:trip_id>/<str:channel>/", views.share, name="referral_share"),
    path("r/<str:code>/", views.landing, name="referral_landing"),
    path("r/<str:code>/image.png", views.image, name="referral_image"),
]

# The marketing dashboard (referrals/dashboard.py): staff with referrals.view_dashboard.

urlpatterns += [
    path(
        "api/referrals/dashboard/", dashboard.DashboardApi.as_view(), name="api-referrals-dashboard"
    ),
    path("staff/referrals/", dashboard.dashboard_page, name="referrals_dashboard"),
    path(
        "staff/referrals/refresh/", dashboard.dashboard_refresh, name="referrals_dashboard_refresh"
    ),
    path("staff/referrals/export.csv", dashboard.dashboard_csv, name="referrals_dashboard_csv"),
]
