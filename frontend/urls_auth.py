"""Before allauth's own URLs (config/urls.py): the signup that never leaves a guest stuck,
and allauth's password pages closed (frontend/views_auth.py)."""

from django.urls import path, re_path

from frontend import views_auth

urlpatterns = [
    path("signup/", views_auth.signup),
    re_path(r"^password/", views_auth.no_passwords),
]
