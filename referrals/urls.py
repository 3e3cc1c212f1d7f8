from django.urls import path

from referrals import views

urlpatterns = [
    path("r/consent/", views.consent, name="referral_consent"),
    path("r/<str:code>/", views.landing, name="referral_landing"),
    path("r/<str:code>/image.png", views.image, name="referral_image"),
]
