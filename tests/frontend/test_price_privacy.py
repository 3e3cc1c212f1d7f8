"""Prices stay private (issue 22, points 1 and 2): a pay page shows my share, the shares I
chose to cover, and for the others only paid / not paid, unless they show their details to
the group; covering a friend is told to both, by name; the trip page's travellers list
shows the card, age and price of those who show them, and of nobody else."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from groups.models import Membership
from payments import services
from payments.models import Share
from sandboxes.stripe_server import CARD_OK
from tests import factories
from tests.frontend.test_pay_pages import card_token
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401

pytestmark = pytest.mark.django_db

YOUTH = {"fare_class_code": "standard-2", "passenger_type_code": "youth", "age": 20}


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def started():
    """Olivia, Ana and Ben; Ben travels on a youth fare, so his share differs from theirs."""
    trip, people, _departure = factories.checkout_ready_trip(travellers=3, fares={2: YOUTH})
    checkout = services.checkout_start(trip_id=trip.pk, by=people[0])
    return trip, people, checkout


def share_of(checkout, user) -> Share:
    return Share.objects.get(checkout=checkout, traveller=user)


def shown(cents: int) -> str:
    return rf"{cents // 100}[.,]{cents % 100:02d}"


def pay_page(checkout, user, query: str = "") -> str:
    token = services.pay_link_token(checkout=checkout, payer=user)
    answer = Client().get(reverse("pay", args=[token]) + query)
    assert answer.status_code == 200
    return answer.content.decode()


def shares_details(trip, user, shares: bool):
    Membership.objects.filter(group=trip.group, user=user).update(shares_details=shares)


def test_a_pay_page_never_shows_a_friends_amount_they_keep_to_themselves(started):
    _trip, (_olivia, ana, ben), checkout = started
    bens = share_of(checkout, ben).amount_cents
    assert bens != share_of(checkout, ana).amount_cents
    html = pay_page(checkout, ana)
    assert not re.search(shown(bens), html)
    assert f'data-amount="{bens}"' not in html
    # Ana may still cover him: a "Cover it" link, no amount until she chooses to.
    assert f'data-cover-share="{share_of(checkout, ben).pk}"' in html


def test_choosing_to_cover_a_friend_shows_their_amount_and_ticks_it(started):
    _trip, (_olivia, ana, ben), checkout = started
    ben_share = share_of(checkout, ben)
    html = pay_page(checkout, ana, f"?cover={ben_share.pk}")
    assert re.search(
        rf'value="{ben_share.pk}" data-amount="{ben_share.amount_cents}" data-share-friend checked',
        html,
    )
    # A share that is not in the checkout, or garbage, changes nothing.
    assert pay_page(checkout, ana, "?cover=999999&cover=x").count("data-share-friend") == 0


def test_a_friend_who_shows_their_details_shows_their_amount(started):
    trip, (olivia, ana, ben), checkout = started
    shares_details(trip, ben, True)
    bens = share_of(checkout, ben).amount_cents
    for viewer in (olivia, ana):
        html = pay_page(checkout, viewer)
        assert re.search(rf'data-traveller="{ben.pk}"[^<]*>.*?{shown(bens)}', html, re.S)
        assert f'value="{share_of(checkout, ben).pk}" data-amount="{bens}"' in html
    # Switched off again: gone from everyone's page.
    shares_details(trip, ben, False)
    assert not re.search(shown(bens), pay_page(checkout, ana))


def test_the_trip_page_shows_the_others_details_only_when_they_show_them(started):
    trip, (_olivia, ana, ben), _checkout = started
    client = Client()
    client.force_login(ana)
    url = reverse("trip", args=[trip.pk])

    def bens_row():
        html = client.get(url).content.decode()
        start = html.index(f'data-traveller="{ben.pk}"', html.index("data-plan-travellers"))
        return html[start : html.index("</li>", start)]

    assert "data-traveller-details" not in bens_row()
    shares_details(trip, ben, True)
    row = bens_row()
    assert "data-traveller-details" in row
    assert "Youth" in row and "20 years old" in row


def test_covering_a_friend_is_told_to_both_by_name(stripe_sandbox, started):  # noqa: F811
    _trip, (_olivia, ana, ben), checkout = started
    token = services.pay_link_token(checkout=checkout, payer=ana)
    mine, bens = share_of(checkout, ana), share_of(checkout, ben)
    answer = Client().post(
        reverse("pay_start", args=[token]),
        {"shares": [mine.pk, bens.pk], "payment_method": card_token(stripe_sandbox, CARD_OK)},
    )
    assert answer.status_code == 200, answer.content

    anas = pay_page(checkout, ana)
    section = anas[anas.index("data-pay-paid-for") :]
    assert re.search(shown(mine.amount_cents + bens.amount_cents), section)
    assert "’s share" in section and re.search(shown(bens.amount_cents), section)
    assert "Paid by you" in anas

    bens_page = pay_page(checkout, ben)
    ana_name = ana.profile.display_name
    assert f"{ana_name} paid your share" in bens_page
    assert f"Paid by {ana_name}" in bens_page
    # Ben gave no card: nothing tells him his card will be charged.
    assert "Your card is charged" not in bens_page
    assert "Your card pays" not in bens_page

    # Olivia, a third, reads only that a friend paid, and no amount of theirs.
    olivias = pay_page(checkout, _olivia)
    assert "Paid by a friend" in olivias and f"Paid by {ana_name}" not in olivias
    assert not re.search(shown(bens.amount_cents), olivias)
