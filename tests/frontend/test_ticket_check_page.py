"""Issue 18 point 8: "Check this ticket" opens a page a traveller or an inspector reads
(valid or not, traveller, train, coach and seat); JSON only for a scanner that asks."""

import re

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from booking.models import Ticket
from booking.tickets import ticket_signed_code
from frontend.trip_page import ticket_rows
from tests import factories
from tests.referrals.booked import book

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket():
    trip = factories.trip()
    friend = factories.member(trip, "Ana Amie")
    book(trip, [trip.created_by, friend])
    return Ticket.objects.select_related("allocation__seat__coach").get(traveller=friend)


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_the_ticket_links_to_the_check_page(ticket):
    (row,) = ticket_rows(None, [ticket])
    assert row["verify_url"] == reverse("ticket_check", args=[ticket_signed_code(ticket)])


@pytest.mark.parametrize(
    ("language", "valid", "seat"),
    [
        ("en", "Valid ticket", "Coach {c}, seat {s}"),
        ("fr", "Billet valable", "Voiture {c}, place {s}"),
    ],
)
def test_a_browser_reads_a_page_with_the_verdict_traveller_train_and_seat(
    ticket, language, valid, seat
):
    url = reverse("ticket_check", args=[ticket_signed_code(ticket)])
    page = Client(headers={"Accept-Language": language, "Accept": "text/html,*/*;q=0.8"}).get(url)
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    text = _text(page)
    assert valid in text and 'data-ticket-check="valid"' in text
    assert "Ana Amie" in text
    assert ticket.allocation.departure.service_number in text
    number = ticket.allocation.seat
    assert seat.format(c=number.coach.number, s=number.number) in text


def test_a_scanner_asking_for_json_gets_the_api_answer(ticket):
    url = reverse("ticket_check", args=[ticket_signed_code(ticket)])
    answer = Client().get(url, headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert answer.json()["valid"] is True
    assert answer.json()["ticket"]["code"] == ticket.code


def test_a_cancelled_or_forged_ticket_says_not_valid_on_the_page(ticket):
    signed = ticket_signed_code(ticket)
    Ticket.objects.filter(pk=ticket.pk).update(
        state=Ticket.State.CANCELLED, cancelled_at=timezone.now()
    )
    cancelled = Client(headers={"Accept-Language": "en"}).get(
        reverse("ticket_check", args=[signed])
    )
    assert cancelled.status_code == 200
    assert "Cancelled ticket: not valid" in _text(cancelled)
    forged = Client(headers={"Accept-Language": "en"}).get(
        reverse("ticket_check", args=[signed[:-3] + "AAA"])
    )
    assert forged.status_code == 400
    assert 'data-ticket-check="invalid"' in _text(forged)
    scanner = Client().get(
        reverse("ticket_check", args=[signed[:-3] + "AAA"]), headers={"Accept": "application/json"}
    )
    assert scanner.status_code == 400 and scanner.json()["error"]["code"] == "ticket_code_invalid"


def test_cancelling_is_a_step_of_its_own_away_from_the_qr_code(ticket):
    with translation.override("en"):
        card = render_to_string(
            "frontend/pay/_tickets.html", {"tickets": ticket_rows(None, [ticket])}
        )
    # The cancel link is inside "Change of plans?", closed, after the QR code.
    assert card.index("data-ticket-qr") < card.index("data-ticket-change")
    change = re.search(r"<details[^>]*data-ticket-change>(.*?)</details>", card, re.S).group(1)
    assert "data-ticket-cancel-link" in change
    assert "button--danger" not in change
