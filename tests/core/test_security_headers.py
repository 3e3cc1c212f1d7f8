"""Every page has a Content-Security-Policy (Django's, with nonces for our inline style
sheets) that allows only our origin and the Stripe and Facebook origins of the settings,
and a Permissions-Policy that turns off the browser features we do not use."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def nonce_of(response) -> str:
    (source,) = [s for s in directives(response)["style-src"] if s.startswith("'nonce-")]
    return source.removeprefix("'nonce-").removesuffix("'")


def test_a_page_allows_only_our_own_scripts_styles_and_frames():
    policy = directives(Client().get("/"))
    assert policy["default-src"] == ["'self'"]
    assert "'self'" in policy["script-src"] and "'self'" in policy["connect-src"]
    for directive in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[directive]
        assert "'unsafe-eval'" not in policy[directive]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]


def test_stripe_and_facebook_are_allowed_where_the_settings_put_them(settings):
    settings.STRIPE_JS_URL = "https://js.stripe.com/v3/"
    settings.STRIPE_API_BASE = ""
    settings.FACEBOOK_DIALOG_URL = "https://www.facebook.com"
    policy = directives(Client().get("/"))
    assert "https://js.stripe.com" in policy["script-src"]
    assert "https://js.stripe.com" in policy["frame-src"]
    assert "https://api.stripe.com" in policy["connect-src"]
    assert policy["form-action"] == ["'self'", "https://www.facebook.com"]

    # The sandboxes: only known once they listen, set at run time.
    settings.STRIPE_JS_URL = "http://127.0.0.1:8421/js.stripe.com/v3/"
    settings.STRIPE_API_BASE = "http://127.0.0.1:8421"
    settings.FACEBOOK_DIALOG_URL = "http://127.0.0.1:8765/"
    policy = directives(Client().get("/"))
    assert "http://127.0.0.1:8421" in policy["script-src"]
    assert "https://js.stripe.com" not in policy["script-src"]
    assert "http://127.0.0.1:8421" in policy["connect-src"]
    assert policy["form-action"] == ["'self'", "http://127.0.0.1:8765"]


def test_the_permissions_policy_turns_off_unused_features():
    header = Client().get("/").headers["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "usb=()"):
        assert feature in header
    assert 'payment=(self "https://js.stripe.com")' in header


@pytest.mark.urls("tests.core.urls_crash")
def test_the_500_pages_style_sheet_carries_the_nonce():
    response = Client(raise_request_exception=False).get("/crash/")
    assert response.status_code == 500
    assert f'<style nonce="{nonce_of(response)}">' in response.content.decode()


def test_the_dashboards_charts_carry_the_nonce_and_no_style_attribute():
    staff = factories.user("Stella Staff")
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="referrals", codename="view_dashboard")
    )
    client = Client()
    client.force_login(staff)
    response = client.get("/staff/referrals/")
    assert response.status_code == 200
    page = response.content.decode()
    styles = re.findall(r"<style\b[^>]*>", page)
    assert len(styles) == 3
    assert all(f'nonce="{nonce_of(response)}"' in style for style in styles)
    assert " style=" not in page
