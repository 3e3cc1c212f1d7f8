"""Issue 18 point 7: dates, money and seats as people write them, in French and English,
from CLDR (Babel) rather than hand-made formats; and every page outside the trip page's
plan uses them."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import timezone, translation

from core.l10n import format_money, seat_name, seat_name_of
from tests import factories

DEC_10 = dt.date(2026, 12, 10)
DEC_11 = dt.date(2026, 12, 11)
JUL_3 = dt.date(2026, 7, 3)


def render(source: str, language: str, **context) -> str:
    with translation.override(language):
        return Template("{% load dates seats money %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("source", "fr", "en"),
    [
        ("{{ d|day }}", "jeudi 10 décembre", "Thursday 10 December"),
        ("{{ d|day_year }}", "jeudi 10 décembre 2026", "Thursday, 10 December 2026"),
        ("{{ d|day_short }}", "jeu. 10 déc.", "Thu 10 Dec"),
        ("{{ d|day_range:e }}", "10–11 déc. 2026", "10–11 Dec 2026"),
        ("{{ d|day_range_short:e }}", "10–11 déc.", "10–11 Dec"),
        ("{{ d|day_range:d }}", "10 déc. 2026", "10 Dec 2026"),
        ("{{ j|month_short }}", "juil.", "Jul"),
        ("{{ d|month_short }}", "déc.", "Dec"),
        (
            "{{ j|day_range:e }}",
            "3 juil.\u2009–\u200911 déc. 2026",
            "3 Jul\u2009–\u200911 Dec 2026",
        ),
    ],
)
def test_dates_are_written_as_each_language_writes_them(source, fr, en):
    context = {"d": DEC_10, "e": DEC_11, "j": JUL_3}
    assert render(source, "fr", **context) == fr
    assert render(source, "en", **context) == en


def test_a_moment_is_written_in_the_zone_it_is_given_else_the_current_one():
    leaves = dt.datetime(2026, 12, 10, 6, 0, tzinfo=dt.UTC)
    source = "{{ t|moment }} · {{ t|timezone:'Europe/London'|moment_year }}"
    with timezone.override("Europe/Paris"):
        fr = Template("{% load tz dates %}" + source)
        with translation.override("fr"):
            assert fr.render(Context({"t": leaves})) == (
                "jeu. 10 déc., 07:00 · jeu. 10 déc. 2026, 06:00"
            )
        with translation.override("en"):
            assert fr.render(Context({"t": leaves})) == (
                "Thu 10 Dec, 07:00 · Thu, 10 Dec 2026, 06:00"
            )


def test_never_a_title_cased_or_capitalised_month():
    for month in range(1, 13):
        day = dt.date(2026, month, 1)
        for language in ("fr", "en"):
            text = render(
                "{{ d|month_short }} {{ d|day_short }} {{ d|day_range:d }}", language, d=day
            )
            assert text.upper() != text
            if language == "fr":
                assert text == text.lower()  # "déc.", never "Déc"


def test_empty_values_give_empty_text():
    assert render("[{{ n|day }}{{ n|day_range:n }}{{ n|moment }}]", "fr", n=None) == "[]"


@pytest.mark.parametrize(
    ("language", "expected"), [("fr", "Voiture 2, place 14"), ("en", "Coach 2, seat 14")]
)
def test_a_seat_has_one_name_from_the_seat_or_its_label(language, expected):
    with translation.override(language):
        assert seat_name(2, 14) == expected
        assert seat_name_of("2-14") == expected
        assert render("{{ s|seat_name }}", language, s="2-14") == expected
    assert seat_name_of("not a label") == "not a label"


def test_money_carries_its_sign_in_both_languages_and_in_e_mails():
    assert format_money(4290, "EUR", language="fr") == "42,90\u00a0€"
    assert format_money(4290, "EUR", language="en") == "€42.90"
    source = "{% load emails %}{{ c|cents }}"
    with translation.override("fr"):
        assert Template(source).render(Context({"c": 4290})) == "42,90\u00a0€"


# --- The pages -----------------------------------------------------------------------------

TEMPLATE_ROOTS = [
    Path(p) for p in ("frontend/templates", "referrals/templates", "groups/templates")
]
# The trip page and its live plan are written by issue 18's points 1–6, which use these
# same filters (docs/frontend.md, "Dates, money and seats").
NOT_HERE = ("frontend/trips/detail.html", "frontend/plan/")
# Django's ``date`` keeps only machine forms (datetime attributes, URLs, comparisons).
MACHINE = {"c", "Y-m-d", "Ym", "Ymd", "j"}


def test_no_page_writes_a_date_for_people_with_django_date_formats():
    found = []
    for root in TEMPLATE_ROOTS:
        for path in root.rglob("*.html"):
            name = str(path.relative_to(root))
            if name.startswith(NOT_HERE):
                continue
            text = path.read_text()
            for fmt in re.findall(r"\|date:[\"']([^\"']*)[\"']", text):
                if fmt not in MACHINE:
                    found.append(f"{name}: date:{fmt!r}")
            # Django's ``time`` with a named format is "2:36 a.m." in English: ``clock``.
            for fmt in re.findall(r"\|time:[\"']([A-Z_]+)[\"']", text):
                found.append(f"{name}: time:{fmt!r}")
    assert found == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "outbound", "back"), [("fr", "Aller", "Retour"), ("en", "Outbound", "Return")]
)
def test_a_trip_says_outbound_and_return_and_a_one_way_trip_no_return(language, outbound, back):
    # Issue 22 point 9: "Outbound / Return" rather than "Leave / Back", no "Back: One way".
    there_and_back = factories.trip(outbound_from=DEC_10, return_from=DEC_11)
    one_way = factories.trip(outbound_from=DEC_10)
    client = Client(HTTP_ACCEPT_LANGUAGE=language)

    def dates(trip) -> str:
        client.force_login(trip.created_by)
        page = client.get(f"/trips/{trip.pk}/").content.decode()
        start = page.index('<dl class="trip-dates">')
        return page[start : page.index("</dl>", start)]

    both = dates(there_and_back)
    assert re.findall(r"<dt>([^<]*)</dt>", both) == [outbound, back]
    assert re.findall(r"<dt>([^<]*)</dt>", dates(one_way)) == [outbound]
    assert ("Aller simple" if language == "fr" else "One way") not in dates(one_way)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "when"), [("fr", "jeudi 10 décembre 2026"), ("en", "Thursday, 10 December 2026")]
)
def test_the_trip_dates_read_as_people_write_them(language, when):
    trip = factories.trip(outbound_from=DEC_10)
    flexible = factories.trip(outbound_from=DEC_10, outbound_to=DEC_11)
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(trip.created_by)
    with translation.override(language):
        html = client.get(f"/trips/{trip.pk}/").content.decode()
    assert when in html
    client.force_login(flexible.created_by)
    html = client.get(f"/trips/{flexible.pk}/").content.decode()
    assert (
        "10–11 déc. 2026 (dates flexibles)" if language == "fr" else "10–11 Dec 2026 (flexible)"
    ) in html
    listing = client.get("/trips/").content.decode()
    assert ("10–11 déc." if language == "fr" else "10–11 Dec") in listing
