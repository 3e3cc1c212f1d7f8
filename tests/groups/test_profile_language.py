"""One language per person, on every device (issue 22, point 9): the language chosen on
the account reaches a browser without a language cookie at login, for its pages and the
API's errors alike, and becomes that browser's cookie (read by the live plan's socket);
a cookie already set is the person's latest word on that browser and wins."""

import pytest
from django.conf import settings
from django.test import Client

from groups.models import Profile
from tests import factories

pytestmark = pytest.mark.django_db

REQUIRED = {"en": "This field is required.", "fr": "Ce champ est obligatoire."}


def person(language: str):
    user = factories.user("Ann")
    Profile.objects.filter(user=user).update(preferred_language=language)
    return user


def api_error(client) -> str:
    answer = client.post("/api/trips/", {}, content_type="application/json")
    assert answer.status_code == 400
    return answer.json()["error"]["fields"]["origin"][0], answer


def test_a_new_browser_speaks_the_language_chosen_on_the_account():
    client = Client(HTTP_ACCEPT_LANGUAGE="fr-FR")  # a French phone, no cookie yet
    client.force_login(person("en"))
    message, answer = api_error(client)
    assert message == REQUIRED["en"]
    assert answer.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    # A page first, on another new browser: English too.
    other = Client(HTTP_ACCEPT_LANGUAGE="fr-FR")
    other.force_login(Profile.objects.get(display_name="Ann").user)
    page = other.get("/trips/")
    assert '<html lang="en">' in page.content.decode()
    assert page.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"


def test_a_language_cookie_on_the_browser_wins():
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    client.force_login(person("en"))
    assert api_error(client)[0] == REQUIRED["fr"]


def test_without_a_choice_the_browser_decides_and_no_cookie_is_set():
    client = Client(HTTP_ACCEPT_LANGUAGE="fr-FR")
    client.force_login(person(""))
    message, answer = api_error(client)
    assert message == REQUIRED["fr"]
    assert settings.LANGUAGE_COOKIE_NAME not in answer.cookies
