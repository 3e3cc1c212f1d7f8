"""Links in e-mails point at the site (issue 22, point 11): SITE_URL when it is set; else
the request's own origin, also for a message queued during that request and rendered
later by the worker; production refuses to go without it (core.E001, a deploy check)."""

import pytest
from django.core import mail
from django.test import RequestFactory

from core.site import SiteOriginMiddleware, site_origin, site_url
from notices import kinds, sending
from notices.kinds import Email
from notices.models import Message
from notices.services import message_queue
from tests import factories
from tests.core.test_deploy_check import _manage, production_env  # noqa: F401


@pytest.fixture
def unset(settings):
    settings.SIDEBYSIDE = {
        **settings.SIDEBYSIDE,
        "SITE_URL": "",
        "SITE_URL_FALLBACK": "http://127.0.0.1:8809",
    }


def _served(request):
    return SiteOriginMiddleware(lambda r: site_url())(request)


def test_without_site_url_a_request_gives_its_own_origin(unset, settings):
    settings.ALLOWED_HOSTS = ["phone.example"]
    request = RequestFactory().get("/", HTTP_HOST="phone.example", secure=True)
    assert _served(request) == "https://phone.example"
    assert site_url() == "http://127.0.0.1:8809"  # outside a request: serve's address


def test_a_forged_host_never_becomes_a_link(unset, settings):
    settings.ALLOWED_HOSTS = ["phone.example"]
    request = RequestFactory().get("/", HTTP_HOST="evil.example")
    assert _served(request) == "http://127.0.0.1:8809"


def test_site_url_when_set_wins(settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "SITE_URL": "https://sidebyside.example/"}
    settings.ALLOWED_HOSTS = ["phone.example"]
    request = RequestFactory().get("/", HTTP_HOST="phone.example")
    assert _served(request) == "https://sidebyside.example"


def _render(message):
    return Email(subject="Link", text=f"Go to {site_url()}/pay/", html="<p>Link</p>")


@pytest.fixture
def link_kind():
    kinds.register("tests.link", object_type="tests.thing", render=_render)
    yield
    kinds._kinds.pop("tests.link", None)


@pytest.mark.django_db
def test_a_message_queued_in_a_request_links_to_that_requests_origin(unset, link_kind):
    ana = factories.user(email="ana@example.test")
    with site_origin("http://192.168.1.20:8809"):
        message_queue(kind="tests.link", object_id=1, recipient_ids=[ana.pk])
    message_queue(kind="tests.link", object_id=2, recipient_ids=[ana.pk])  # by the worker
    assert sorted(Message.objects.values_list("object_id", "site_url")) == [
        (1, "http://192.168.1.20:8809"),
        (2, ""),
    ]
    assert sending.messages_send() == 2
    bodies = sorted(m.body for m in mail.outbox)
    assert "Go to http://127.0.0.1:8809/pay/" in bodies[0]
    assert "Go to http://192.168.1.20:8809/pay/" in bodies[1]


def test_production_without_site_url_fails_the_deploy_check(production_env):  # noqa: F811
    production_env.pop("SITE_URL", None)
    result = _manage(production_env, "check", "--deploy")
    assert result.returncode != 0
    assert "core.E001" in result.stdout + result.stderr
    # Not a deploy: the plain check (and a developer's machine) is not refused.
    assert _manage(production_env, "check").returncode == 0


def test_production_with_a_path_in_site_url_is_refused(production_env):  # noqa: F811
    production_env["SITE_URL"] = "sidebyside.example"
    result = _manage(production_env, "check", "--deploy")
    assert result.returncode != 0 and "core.E001" in result.stdout + result.stderr
