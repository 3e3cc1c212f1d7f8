"""Cancelling a ticket in the browser without JavaScript (frontend/views_pay.ticket_cancel),
against the Stripe sandbox: the tickets link to a page that states exactly what comes back
(Flex: the price less the fee, to whose card; Standard: no refund), a CSRF-protected POST
cancels and the page then shows the result; a second POST refunds nothing more."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from booking.models import AllocationState
from payments import services
from payments.models import Payment, Refund
from tests import factories
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401
from tests.payments.test_ticket_cancel_api import book_three, stripe_refunds, ticket_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    """The page's English wording is asserted (the default language may be another)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def booked(stripe_sandbox):  # noqa: F811
    return book_three(stripe_sandbox)


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def page_url(ticket) -> str:
    return reverse("ticket_cancel", args=[ticket.pk])


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_my_tickets_link_to_their_cancellation_on_the_trip_and_pay_pages(booked):
    trip, checkout, olivia, _ana, _ben = booked
    ticket = ticket_of(trip, olivia)
    trip_page = logged_in(olivia).get(reverse("trip", args=[trip.pk])).content.decode()
    pay_page = Client().get(
        reverse("pay", args=[services.pay_link_token(checkout=checkout, payer=olivia)])
    )
    for page in (trip_page, pay_page.content.decode()):
        assert f'href="{page_url(ticket)}" data-ticket-cancel-link' in page


def test_the_page_states_a_flex_refund_and_whose_card_gets_it(booked):
    trip, _checkout, olivia, _ana, ben = booked
    mine = ticket_of(trip, olivia)
    page = text(logged_in(olivia).get(page_url(mine)))
    assert f'data-refund-amount="{mine.price_cents - 500}"' in page
    assert "less the €5.00 cancellation fee" in page
    assert "goes back to the card you paid with" in page
    assert "data-ticket-cancel-submit" in page and 'name="csrfmiddlewaretoken"' in page

    bens = ticket_of(trip, ben)  # Olivia covered Ben's share
    page = text(logged_in(ben).get(page_url(bens)))
    assert f'data-refund-amount="{bens.price_cents - 500}"' in page
    assert "Olivia Organiser paid for your share: the refund goes back to their card." in page


def test_the_page_says_a_standard_ticket_refunds_nothing(booked):
    trip, _checkout, _olivia, ana, _ben = booked
    page = text(logged_in(ana).get(page_url(ticket_of(trip, ana))))
    assert 'data-refund-amount="0"' in page
    assert "No refund" in page and "fare is not refundable" in page


def test_posting_cancels_shows_the_result_and_a_double_submit_refunds_once(
    stripe_sandbox,  # noqa: F811
    booked,
):
    trip, checkout, olivia, _ana, _ben = booked
    ticket = ticket_of(trip, olivia)
    expected = ticket.price_cents - 500
    client = logged_in(olivia)

    first = client.post(page_url(ticket))
    second = client.post(page_url(ticket))  # the button pressed twice

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == page_url(ticket)
    result = text(client.get(page_url(ticket)))
    assert 'data-ticket-state="cancelled"' in result
    assert 'data-refund="succeeded"' in result
    assert "€" in result and f"{expected / 100:.2f}" in result
    assert "data-ticket-cancel-submit" not in result
    payment = Payment.objects.get(checkout=checkout, payer=olivia)
    assert list(Refund.objects.filter(ticket=ticket).values_list("amount_cents", flat=True)) == [
        expected
    ]
    assert stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id) == [expected]
    ticket.refresh_from_db()
    assert ticket.state == "cancelled" and ticket.allocation.state == AllocationState.RELEASED
    # The cancelled ticket no longer offers its cancellation.
    trip_page = client.get(reverse("trip", args=[trip.pk])).content.decode()
    assert "data-ticket-cancel-link" not in trip_page


def test_a_standard_ticket_cancelled_shows_no_refund(booked):
    trip, _checkout, _olivia, ana, _ben = booked
    ticket = ticket_of(trip, ana)
    client = logged_in(ana)
    assert client.post(page_url(ticket)).status_code == 302
    result = text(client.get(page_url(ticket)))
    assert 'data-refund="none"' in result and "Nothing was refunded" in result


def test_the_post_needs_the_csrf_token(booked):
    trip, _checkout, olivia, _ana, _ben = booked
    ticket = ticket_of(trip, olivia)
    answer = logged_in(olivia, enforce_csrf_checks=True).post(page_url(ticket))
    assert answer.status_code == 403
    ticket.refresh_from_db()
    assert ticket.state == "valid" and not Refund.objects.exists()


def test_someone_elses_ticket_is_not_found_and_anonymous_logs_in(booked):
    trip, _checkout, olivia, _ana, ben = booked
    ticket = ticket_of(trip, ben)
    for someone in (olivia, factories.user("Sam Stranger")):
        client = logged_in(someone)
        assert client.get(page_url(ticket)).status_code == 404
        assert client.post(page_url(ticket)).status_code == 404
    anonymous = Client().get(page_url(ticket))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    ticket.refresh_from_db()
    assert ticket.state == "valid" and not Refund.objects.exists()


def test_a_train_that_has_left_is_said_and_the_post_refused(booked):
    import datetime as dt

    from django.utils import timezone

    trip, _checkout, olivia, _ana, _ben = booked
    ticket = ticket_of(trip, olivia)
    departure = ticket.allocation.departure
    departure.departs_at = timezone.now() - dt.timedelta(minutes=5)
    departure.save(update_fields=["departs_at"])
    client = logged_in(olivia)

    assert "already left" in text(client.get(page_url(ticket)))
    refused = client.post(page_url(ticket))

    assert refused.status_code == 400
    assert 'role="alert"' in refused.content.decode()
    ticket.refresh_from_db()
    assert ticket.state == "valid" and not Refund.objects.exists()
