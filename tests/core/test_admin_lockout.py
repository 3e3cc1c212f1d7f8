"""/admin/login/ refuses more password guesses than ADMIN_LOGIN_FAILURE_LIMIT (django-axes),
counted by client address (the one every rate limit uses) and by user name; a successful
login clears the count."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    # A fast hasher: the tests make many logins; what they count is unchanged.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def operator():
    return get_user_model().objects.create_user(
        username="operator", email="ops@example.test", password=PASSWORD, is_staff=True
    )


def login(username, password, address="203.0.113.7", forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    client = Client(REMOTE_ADDR=address, **extra)
    answer = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return answer, client


def test_past_the_limit_even_the_right_password_is_refused(operator, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        answer, _client = login("operator", "wrong")
        assert answer.status_code == 200  # the form again, with its error
    answer, _client = login("operator", "wrong")
    assert answer.status_code == 429  # the last failure allowed: locked out from now on
    answer, client = login("operator", PASSWORD)
    assert answer.status_code == 429
    assert client.get("/admin/").status_code == 302  # not logged in


def test_a_success_clears_the_count(operator, settings):
    for _round in range(2):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            login("operator", "wrong")
        answer, client = login("operator", PASSWORD)
        assert answer.status_code == 302
        assert client.get("/admin/").status_code == 200


def test_guessing_many_names_from_one_address_is_locked_out(operator, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(f"someone{n}", "wrong")
    answer, _client = login("operator", PASSWORD)
    assert answer.status_code == 429


def test_a_spoofed_forwarded_header_does_not_escape_the_lockout(operator, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(f"someone{n}", "wrong", forwarded=f"198.51.100.{n}")
    answer, _client = login("operator", PASSWORD, forwarded="198.51.100.99")
    assert answer.status_code == 429


def test_behind_the_balancer_one_clients_lockout_is_not_everyones(operator, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(f"someone{n}", "wrong", address="10.0.0.5", forwarded="203.0.113.66")
    locked, _client = login("someone0", "wrong", address="10.0.0.5", forwarded="203.0.113.66")
    assert locked.status_code == 429
    answer, _client = login("operator", PASSWORD, address="10.0.0.5", forwarded="198.51.100.1")
    assert answer.status_code == 302
