from django.urls import path

from referrals import views

urlpatterns = [
    path("r/consent/", views.consent, name="referral_consent"),
    path("r/share/<int:trip_id>/preview.png", views.share_preview, name="referral_share_preview"),
    path("r/share/<int:trip_id>/<str:channel>/", views.share, name="referral_share"),
    path("r/<str:code>/", views.landing, name="referral_landing"),
    path("r/<str:code>/image.png", views.image, name="referral_image"),
]
