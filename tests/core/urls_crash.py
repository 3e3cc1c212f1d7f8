"""A URL that crashes, for the 500 page's test (tests/core/test_security_headers.py)."""

from django.urls import path


def crash(request):
    raise RuntimeError("boom")


urlpatterns = [path("crash/", crash)]
handler500 = "frontend.views.server_error"
