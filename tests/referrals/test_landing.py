import datetime as dt
import io

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from PIL import Image

from booking.models import Trip
from referrals.models import Click
from referrals.services import share_link_get_or_create
from tests import factories
from tests.referrals.helpers import FACEBOOK_CRAWLER_UA, browser, open_graph

pytestmark = pytest.mark.django_db


def _link(*, privacy="private", travellers=4, channel="facebook", **trip_fields):
    organiser = factories.user("Olivia Secretname")
    trip = factories.trip(
        organiser=organiser, privacy=privacy, title="Olivia's birthday weekend", **trip_fields
    )
    for n in range(travellers - 1):
        factories.member(trip, f"Friend Hiddenname{n}")
    return share_link_get_or_create(trip_id=trip.pk, sharer=organiser, channel=channel)


@override_settings(FACEBOOK_APP_ID="424242")
def test_landing_page_carries_the_open_graph_and_twitter_card_tags():
    link = _link()
    response = browser().get(f"/r/{link.code}/")
    assert response.status_code == 200
    tags = open_graph(response.content.decode())
    page = f"http://testserver/r/{link.code}/"
    assert tags["og:url"] == page
    assert tags["og:type"] == "website"
    assert "Lyon" in tags["og:title"]
    assert "4 friends" in tags["og:description"]
    assert tags["og:image"] == f"{page}image.png"
    assert (tags["og:image:width"], tags["og:image:height"]) == ("1200", "630")
    assert tags["fb:app_id"] == "424242"
    assert tags["twitter:card"] == "summary_large_image"
    assert tags["twitter:image"] == tags["og:image"]


def test_landing_page_in_french_writes_the_date_in_french():
    from django.utils import translation

    from core.l10n import format_day_range

    link = _link()
    response = browser(language="fr").get(f"/r/{link.code}/")
    tags = open_graph(response.content.decode())
    with translation.override("fr"):
        french_day = format_day_range(link.trip.outbound_from, link.trip.outbound_to)
    assert french_day in tags["og:title"]  # "14 déc. 2026": CLDR's French (issue 18 point 7)
    assert 'lang="fr"' in response.content.decode()
    assert tags["og:locale"] == "fr_FR"


def test_landing_page_is_public_and_holds_no_private_data():
    link = _link()
    html = browser().get(f"/r/{link.code}/").content.decode()
    for private in ("Secretname", "Hiddenname", "birthday", "Olivia", "@example.test"):
        assert private not in html
    assert "Paris" in html and "Lyon" in html


def test_plan_the_same_trip_prefills_the_search():
    day = timezone.localdate() + dt.timedelta(days=7)
    link = _link()
    html = browser().get(f"/r/{link.code}/").content.decode()
    assert f'href="/?origin=FRPLY&amp;destination=FRLPD&amp;date={day.isoformat()}"' in html
    assert "data-referral-join" not in html  # a private trip is not offered to join


def test_a_public_trip_offers_to_join():
    link = _link(privacy="public")
    html = browser().get(f"/r/{link.code}/").content.decode()
    assert f'href="/trips/{link.trip_id}/"' in html


def test_an_event_trip_points_to_the_event_page():
    show = factories.event(days_ahead=20)
    link = _link(event_slug=show.slug, destination_code=None, days_ahead=19)
    html = browser().get(f"/r/{link.code}/").content.decode()
    assert f'href="/events/{show.slug}/"' in html
    assert show.name in open_graph(html)["og:title"]


@pytest.mark.parametrize("code", ["doesnotexist", "AAAAAAAAAAAA", "bad%20code", "x" * 40])
def test_unknown_or_malformed_code_gets_the_friendly_404_page(code):
    _link()
    response = browser().get(f"/r/{code}/")
    assert response.status_code == 404
    assert "This page has left the station" in response.content.decode()
    assert not Click.objects.exists()
    assert browser().get(f"/r/{code}/image.png").status_code == 404


def _png_size(content: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    return image.size


def test_image_is_a_1200_by_630_png_and_counts_no_click():
    link = _link()
    response = Client().get(f"/r/{link.code}/image.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert _png_size(response.content) == (1200, 630)
    assert not Click.objects.exists()


def test_image_without_any_font_file_still_draws(settings, tmp_path):
    settings.REFERRALS = {**settings.REFERRALS, "IMAGE_FONT_DIR": str(tmp_path / "no-fonts")}
    link = _link()
    response = Client().get(f"/r/{link.code}/image.png")
    assert _png_size(response.content) == (1200, 630)


def test_image_is_drawn_once_then_read_from_the_cache(monkeypatch):
    from referrals import images

    link = _link()
    drawn = []
    real = images.render_png
    monkeypatch.setattr(images, "render_png", lambda lines: drawn.append(lines) or real(lines))
    first = Client().get(f"/r/{link.code}/image.png").content
    second = Client().get(f"/r/{link.code}/image.png").content
    assert first == second
    assert len(drawn) == 1
    assert drawn[0]["friends"] == "4 friends" or "4" in drawn[0]["friends"]


def test_head_request_counts_nothing():
    link = _link()
    assert browser().head(f"/r/{link.code}/").status_code == 200
    assert not Click.objects.exists()


def test_a_cancelled_trip_still_lands_but_offers_no_join():
    link = _link(privacy="public")
    Trip.objects.filter(pk=link.trip_id).update(status=Trip.Status.CANCELLED)
    response = browser().get(f"/r/{link.code}/")
    assert response.status_code == 200
    assert "data-referral-join" not in response.content.decode()


def test_a_crawler_reads_the_same_tags():
    link = _link()
    response = Client(HTTP_USER_AGENT=FACEBOOK_CRAWLER_UA).get(f"/r/{link.code}/")
    tags = open_graph(response.content.decode())
    assert tags["og:url"].endswith(f"/r/{link.code}/")
