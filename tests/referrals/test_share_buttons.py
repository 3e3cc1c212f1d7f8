"""Share after booking (issue 6 §1): the trip page's "Share your trip" panel for the
travellers of a booked trip, each button making the traveller's link for its network,
counting the press, and going to that network's share page with the link."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from referrals.models import ShareIntent, ShareLink
from tests import factories
from tests.referrals.booked import book

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked():
    organiser = factories.user("Olivia Organiser")
    # Organisers put names in titles: the card never shows the title.
    trip = factories.trip(organiser=organiser, days_ahead=3, title="Olivia & Zoé go south")
    friend = factories.member(trip, "Zoé Secretname")
    book(trip, [organiser, friend])
    trip.refresh_from_db()
    assert trip.status == "booked"
    return trip, organiser, friend


def as_user(user) -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(user)
    return client


def press(client, trip, channel: str, **data):
    return client.post(reverse("referral_share", args=[trip.pk, channel]), data)


def link_url(link: ShareLink) -> str:
    return f"http://testserver/r/{link.code}/"


def test_each_traveller_of_a_booked_trip_sees_the_panel_with_the_card(booked):
    trip, organiser, friend = booked
    for person in (organiser, friend):
        page = as_user(person).get(reverse("trip", args=[trip.pk])).content.decode()
        assert 'id="share"' in page
        assert reverse("referral_share_preview", args=[trip.pk]) in page
        assert "Lyon" in page and "Paris → Lyon" in page and "2 friends" in page
        for channel in ("facebook", "x", "whatsapp", "messenger", "webshare", "copy"):
            assert reverse("referral_share", args=[trip.pk, channel]) in page
    # Showing the panel makes no link and counts nothing.
    assert not ShareLink.objects.exists() and not ShareIntent.objects.exists()


def test_the_card_never_names_the_other_friends(booked):
    trip, organiser, _friend = booked
    page = as_user(organiser).get(reverse("trip", args=[trip.pk])).content.decode()
    panel = page[page.index('id="share"') :]
    panel = panel[: panel.index("</section>")]
    assert "Secretname" not in panel and "Olivia" not in panel and "Zoé" not in panel


def test_no_panel_before_the_trip_is_booked():
    trip = factories.trip()
    page = as_user(trip.created_by).get(reverse("trip", args=[trip.pk])).content.decode()
    assert 'id="share"' not in page
    response = press(as_user(trip.created_by), trip, "facebook")
    assert response.status_code == 409
    assert not ShareLink.objects.exists() and not ShareIntent.objects.exists()


def test_no_panel_for_a_stranger_of_a_public_booked_trip():
    organiser = factories.user()
    trip = factories.trip(organiser=organiser, privacy="public", days_ahead=3)
    book(trip, [organiser])
    stranger = factories.user()
    page = as_user(stranger).get(reverse("trip", args=[trip.pk])).content.decode()
    assert 'id="share"' not in page
    assert press(as_user(stranger), trip, "facebook").status_code == 403
    assert as_user(stranger).get(reverse("referral_share_preview", args=[trip.pk])).status_code == (
        404
    )
    assert not ShareLink.objects.exists()


def test_a_stranger_of_a_private_trip_gets_not_found_and_anonymous_goes_to_login(booked):
    trip, _organiser, _friend = booked
    assert press(as_user(factories.user()), trip, "x").status_code == 404
    response = press(Client(), trip, "x")
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert not ShareLink.objects.exists()


def test_facebook_goes_to_the_share_dialog_with_the_link(booked, settings):
    settings.FACEBOOK_APP_ID = "1234567890"
    settings.FACEBOOK_DIALOG_URL = "https://www.facebook.com"
    trip, organiser, _friend = booked
    response = press(as_user(organiser), trip, "facebook")

    link = ShareLink.objects.get()
    assert (link.sharer, link.channel, link.trip) == (organiser, "facebook", trip)
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.scheme, target.netloc, target.path) == (
        "https",
        "www.facebook.com",
        "/dialog/share",
    )
    query = parse_qs(target.query)
    assert query["app_id"] == ["1234567890"]
    assert query["href"] == [link_url(link)]
    assert query["redirect_uri"] == [f"http://testserver/trips/{trip.pk}/"]
    # URL-encoded in the Location header.
    assert f"href=http%3A%2F%2Ftestserver%2Fr%2F{link.code}%2F" in response["Location"]


def test_facebook_follows_the_dialog_host_of_the_settings(booked, settings):
    settings.FACEBOOK_APP_ID = "42"
    settings.FACEBOOK_DIALOG_URL = "http://127.0.0.1:8765/"
    trip, organiser, _friend = booked
    location = press(as_user(organiser), trip, "facebook")["Location"]
    assert location.startswith("http://127.0.0.1:8765/dialog/share?")


def test_x_whatsapp_and_messenger_get_the_link(booked, settings):
    settings.FACEBOOK_APP_ID = "1234567890"
    settings.FACEBOOK_SANDBOX = False
    trip, organiser, _friend = booked
    client = as_user(organiser)

    x = urlsplit(press(client, trip, "x")["Location"])
    link = ShareLink.objects.get(channel="x")
    assert (x.netloc, x.path) == ("twitter.com", "/intent/tweet")
    assert parse_qs(x.query)["url"] == [link_url(link)]
    assert "Lyon" in parse_qs(x.query)["text"][0]

    whatsapp = urlsplit(press(client, trip, "whatsapp")["Location"])
    link = ShareLink.objects.get(channel="whatsapp")
    assert (whatsapp.netloc, whatsapp.path) == ("wa.me", "/")
    assert parse_qs(whatsapp.query)["text"][0].endswith(link_url(link))

    phone = press(client, trip, "messenger", device="phone")["Location"]
    link = ShareLink.objects.get(channel="messenger")
    assert phone.startswith("fb-messenger://share?")
    assert parse_qs(urlsplit(phone).query)["link"] == [link_url(link)]
    desktop = urlsplit(press(client, trip, "messenger", device="desktop")["Location"])
    assert desktop.path == "/dialog/send"
    assert parse_qs(desktop.query)["link"] == [link_url(link)]
    # One link per channel, however often the button is pressed.
    assert ShareLink.objects.filter(channel="messenger").count() == 1


def test_copy_shows_the_link_on_the_trip_page(booked):
    trip, organiser, _friend = booked
    client = as_user(organiser)
    response = press(client, trip, "copy")
    assert response.status_code == 302
    assert response["Location"] == f"/trips/{trip.pk}/#share"
    link = ShareLink.objects.get(channel="copy")
    page = client.get(reverse("trip", args=[trip.pk])).content.decode()
    assert f'value="{link_url(link)}"' in page


def test_the_share_menu_gets_the_link_as_json(booked):
    trip, _organiser, friend = booked
    response = as_user(friend).post(
        reverse("referral_share", args=[trip.pk, "webshare"]), HTTP_ACCEPT="application/json"
    )
    link = ShareLink.objects.get(channel="webshare", sharer=friend)
    assert response.json()["url"] == link_url(link)
    assert "Secretname" not in response.json()["text"]


def test_each_press_is_counted_as_an_intent_on_one_link_per_channel(booked):
    trip, organiser, friend = booked
    for _ in range(3):
        press(as_user(organiser), trip, "whatsapp")
    press(as_user(friend), trip, "whatsapp")
    press(as_user(organiser), trip, "x")

    assert ShareLink.objects.filter(channel="whatsapp").count() == 2
    by_link = {
        (link.sharer_id, link.channel): link.intents.count() for link in ShareLink.objects.all()
    }
    assert by_link == {
        (organiser.pk, "whatsapp"): 3,
        (friend.pk, "whatsapp"): 1,
        (organiser.pk, "x"): 1,
    }


def test_an_unknown_channel_writes_nothing(booked):
    trip, organiser, _friend = booked
    assert press(as_user(organiser), trip, "myspace").status_code == 400
    assert not ShareLink.objects.exists() and not ShareIntent.objects.exists()


def test_the_buttons_need_csrf(booked):
    trip, organiser, _friend = booked
    client = Client(enforce_csrf_checks=True)
    client.force_login(organiser)
    assert press(client, trip, "facebook").status_code == 403
    assert not ShareLink.objects.exists()


def test_a_get_does_not_share(booked):
    trip, organiser, _friend = booked
    response = as_user(organiser).get(reverse("referral_share", args=[trip.pk, "facebook"]))
    assert response.status_code == 405
    assert not ShareLink.objects.exists()


def test_the_preview_picture_is_the_cards(booked):
    trip, _organiser, friend = booked
    response = as_user(friend).get(reverse("referral_share_preview", args=[trip.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_with_incentives_on_the_text_discloses_the_reward(booked, settings):
    settings.REFERRALS = settings.REFERRALS | {"INCENTIVE": True}
    trip, organiser, _friend = booked
    client = as_user(organiser)
    page = client.get(reverse("trip", args=[trip.pk])).content.decode()
    assert "data-share-disclosure" in page
    text = parse_qs(urlsplit(press(client, trip, "x")["Location"]).query)["text"][0]
    assert "reward" in text


def test_with_incentives_off_nothing_is_disclosed(booked):
    trip, organiser, _friend = booked
    page = as_user(organiser).get(reverse("trip", args=[trip.pk])).content.decode()
    assert "data-share-disclosure" not in page
    text = parse_qs(urlsplit(press(as_user(organiser), trip, "x")["Location"]).query)["text"][0]
    assert "reward" not in text
