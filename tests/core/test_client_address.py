"""The client address behind trusted proxies (TRUSTED_PROXIES, CLIENT_ADDRESS_HEADER): the
header is believed only when the direct peer is a trusted proxy, from the right; a
client's own header from anywhere else changes nothing. Every rate limit uses it."""

import pytest
from allauth.account.adapter import get_adapter
from django.test import Client, RequestFactory

from core.client_address import client_address
from referrals.models import Click
from referrals.services import share_link_get_or_create
from tests import factories
from tests.referrals.helpers import BROWSER_UA

BALANCER = "10.0.0.5"


def request(peer: str, forwarded: str | None = None, header="HTTP_X_FORWARDED_FOR"):
    extra = {header: forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=peer, **extra)


@pytest.fixture
def behind_balancer(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "fd00::/8"]
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    return settings


def test_with_no_trusted_proxy_the_header_is_never_read(settings):
    settings.TRUSTED_PROXIES = []
    assert client_address(request("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


def test_an_untrusted_peer_cannot_choose_its_address_with_the_header(behind_balancer):
    assert client_address(request("203.0.113.7", "198.51.100.1")) == "203.0.113.7"
    assert client_address(request("203.0.113.7", "10.0.0.9")) == "203.0.113.7"


def test_behind_the_balancer_the_client_is_the_rightmost_untrusted_hop(behind_balancer):
    assert client_address(request(BALANCER, "203.0.113.7")) == "203.0.113.7"
    # A client that sends its own header: what it wrote is left of what the balancer saw.
    assert client_address(request(BALANCER, "198.51.100.1, 203.0.113.7")) == "203.0.113.7"
    # Two trusted proxies in a row (the balancer behind a CDN edge on our network).
    assert client_address(request(BALANCER, "198.51.100.1, 203.0.113.7, 10.2.3.4")) == (
        "203.0.113.7"
    )
    # Port numbers and IPv6, IPv4 seen by a dual-stack proxy.
    assert client_address(request(BALANCER, "[2001:db8::1]:51234")) == "2001:db8::1"
    assert client_address(request("fd00::1", "203.0.113.7:443")) == "203.0.113.7"
    assert client_address(request("::ffff:10.0.0.5", "::ffff:203.0.113.7")) == "203.0.113.7"


def test_behind_the_balancer_without_a_usable_header_the_peer_is_kept(behind_balancer):
    assert client_address(request(BALANCER)) == BALANCER
    assert client_address(request(BALANCER, "")) == BALANCER
    assert client_address(request(BALANCER, "garbage")) == BALANCER
    assert client_address(request(BALANCER, "203.0.113.7, junk, 10.1.1.1")) == "10.1.1.1"


def test_the_header_is_a_setting(behind_balancer):
    behind_balancer.CLIENT_ADDRESS_HEADER = "X-Real-IP"
    assert client_address(request(BALANCER, "198.51.100.1")) == BALANCER
    answer = request(BALANCER, "203.0.113.7", header="HTTP_X_REAL_IP")
    assert client_address(answer) == "203.0.113.7"


def test_allauth_counts_by_the_same_address(behind_balancer):
    """allauth's own limits (login codes, sign-ups) read our address, not its own
    unconditional reading of X-Forwarded-For."""
    adapter = get_adapter()
    assert adapter.get_client_ip(request("203.0.113.7", "198.51.100.1")) == "203.0.113.7"
    assert adapter.get_client_ip(request(BALANCER, "203.0.113.7")) == "203.0.113.7"


def _clicks(peer, forwarded, link, times):
    for _ in range(times):
        client = Client(
            HTTP_USER_AGENT=BROWSER_UA, REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded
        )
        assert client.get(f"/r/{link.code}/").status_code == 200


@pytest.mark.django_db
def test_clients_behind_the_balancer_each_have_their_own_click_limit(behind_balancer):
    behind_balancer.REFERRALS = {**behind_balancer.REFERRALS, "CLICK_RATE": "3/h"}
    trip = factories.trip()
    link = share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="facebook")
    _clicks(BALANCER, "203.0.113.7", link, 3)
    _clicks(BALANCER, "203.0.113.8", link, 3)
    assert Click.objects.filter(flagged=False).count() == 6
    assert not Click.objects.filter(flagged=True).exists()


@pytest.mark.django_db
def test_a_spoofed_header_does_not_escape_the_click_limit(behind_balancer):
    behind_balancer.REFERRALS = {**behind_balancer.REFERRALS, "CLICK_RATE": "3/h"}
    trip = factories.trip()
    link = share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="facebook")
    for n in range(6):  # straight to the server, a new "address" each time
        _clicks("203.0.113.66", f"198.51.100.{n}", link, 1)
    assert Click.objects.filter(flagged=False).count() == 3
    assert Click.objects.filter(flagged=True).count() == 1
