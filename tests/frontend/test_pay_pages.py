"""The pay pages (frontend/views_pay.py) through Django's test client against the Stripe
sandbox: the organiser's "Start checkout" on the trip page, each payer's ``/pay/<token>/``
page and its endpoints (the card as a sandbox token, as the page's Stripe.js mock makes
it), and the tickets with their QR codes once everyone has paid."""

import re
import time

import pytest
from django.test import Client
from django.urls import reverse

from booking.models import SeatAllocation, Ticket, Trip
from booking.tickets import ticket_signed_code
from frontend.trip_page import ticket_qr_svg
from payments import services
from payments.models import Checkout, Payment, Share
from payments.selectors import pay_link_read
from sandboxes.stripe_server import CARD_DECLINED, CARD_OK
from tests import factories
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process, tasks_run  # noqa: F401

pytestmark = pytest.mark.django_db


def card_token(sandbox, number: str) -> str:
    """What the pay page's Stripe.js mock posts to us: the card id of a token."""
    status, body = sandbox.request(
        "POST",
        "/v1/tokens",
        {
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": str(time.gmtime().tm_year + 3),
            "card[cvc]": "123",
        },
    )
    assert status == 200, body
    return body["card"]["id"]


@pytest.fixture(autouse=True)
def english(settings):
    """The pages' English wording is asserted (the default language may be another)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def ready():
    return factories.checkout_ready_trip(travellers=3)


@pytest.fixture
def started(ready):
    trip, people, _departure = ready
    checkout = services.checkout_start(trip_id=trip.pk, by=people[0])
    return trip, people, checkout


def link(checkout, user) -> str:
    return reverse("pay", args=[services.pay_link_token(checkout=checkout, payer=user)])


def share_of(checkout, user) -> Share:
    return Share.objects.get(checkout=checkout, traveller=user)


def written(trip):
    trip.refresh_from_db()
    return (
        trip.status,
        trip.version,
        Checkout.objects.count(),
        Share.objects.count(),
        list(SeatAllocation.objects.order_by("pk").values_list("state", "expires_at")),
    )


# --- Start checkout --------------------------------------------------------------------------


def test_the_organiser_sees_start_checkout_once_every_leg_is_settled(ready):
    trip, (olivia, ana, _ben), _departure = ready
    client = Client()
    client.force_login(olivia)
    page = client.get(reverse("trip", args=[trip.pk])).content.decode()
    assert "data-checkout-start" in page
    assert 'name="deadline_hours"' in page and 'value="24"' in page
    assert page.count('name="policy"') == 3
    # Each policy by its name, never its raw value.
    for value, name in (
        ("go_ahead", "Go ahead without the unpaid"),
        ("cancel_all", "Cancel everything"),
    ):
        assert f'value="{value}"' in page and f"<strong>{name}</strong>" in page
    assert "<strong>go_ahead</strong>" not in page
    client.force_login(ana)
    assert "data-checkout-start" not in client.get(reverse("trip", args=[trip.pk])).content.decode()


def test_no_start_checkout_before_the_train_is_chosen():
    trip, (olivia, *_), _departures = factories.planned_trip(travellers=2, options=2)
    client = Client()
    client.force_login(olivia)
    assert "data-checkout-start" not in client.get(reverse("trip", args=[trip.pk])).content.decode()


def test_a_member_cannot_start_checkout_and_nothing_is_written(ready):
    trip, (_olivia, ana, _ben), _departure = ready
    before = written(trip)
    client = Client()
    client.force_login(ana)
    answer = client.post(
        reverse("trip_checkout_start", args=[trip.pk]),
        {"deadline_hours": "24", "policy": "go_ahead"},
    )
    assert answer.status_code == 403
    assert written(trip) == before


@pytest.mark.parametrize(
    "data",
    [
        {"deadline_hours": "abc", "policy": "go_ahead"},
        {"deadline_hours": "0", "policy": "go_ahead"},
        {"deadline_hours": "73", "policy": "go_ahead"},
        {"deadline_hours": "24", "policy": "whatever"},
        {"policy": "go_ahead"},
    ],
)
def test_bad_checkout_input_is_refused_on_the_page_and_nothing_is_written(ready, data):
    trip, (olivia, *_), _departure = ready
    before = written(trip)
    client = Client()
    client.force_login(olivia)
    answer = client.post(reverse("trip_checkout_start", args=[trip.pk]), data)
    assert answer.status_code == 400
    assert 'role="alert"' in answer.content.decode()
    assert written(trip) == before


def test_starting_checkout_shows_statuses_the_countdown_and_my_pay_link(ready):
    trip, (olivia, ana, ben), _departure = ready
    client = Client()
    client.force_login(olivia)
    answer = client.post(
        reverse("trip_checkout_start", args=[trip.pk]),
        {"deadline_hours": "12", "policy": "grace"},
    )
    assert answer.status_code == 302
    checkout = Checkout.objects.get(trip=trip)
    assert (checkout.policy, checkout.grace_until is not None) == ("grace", True)
    trip.refresh_from_db()
    assert trip.status == Trip.Status.CHECKOUT

    client.force_login(ana)
    page = client.get(reverse("trip", args=[trip.pk])).content.decode()
    assert "data-countdown=" in page and "frontend/pay.js" in page
    statuses = re.findall(r'data-traveller="(\d+)" data-status="(\w+)"', page)
    assert sorted(statuses) == sorted((str(u.pk), "unpaid") for u in (olivia, ana, ben))
    # Her own pay link, nobody else's (a token carries the second it was signed: the
    # page's links are read back, not made again and compared).
    payers = {
        (found.checkout.pk, found.payer.pk)
        for found in (
            pay_link_read(token=token) for token in re.findall(r'href="/pay/([^/"]+)/"', page)
        )
    }
    assert payers == {(checkout.pk, ana.pk)}
    # Her own amount only: the others' (here the same) are never listed.
    section = page[
        page.index('id="checkout"') : page.index("</section>", page.index('id="checkout"'))
    ]
    amount = share_of(checkout, ana).amount_cents
    assert len(re.findall(rf"{amount // 100}[.,]{amount % 100:02d}", section)) == 1


# --- The pay page ----------------------------------------------------------------------------


def test_the_pay_page_shows_my_share_and_friends_shares_without_login(started, settings):
    _trip, (olivia, ana, ben), checkout = started
    settings.STRIPE_JS_URL = "http://127.0.0.1:9/js.stripe.com/v3/"
    settings.STRIPE_SANDBOX = True
    page = Client().get(link(checkout, ana))
    assert page.status_code == 200
    html = page.content.decode()
    mine = share_of(checkout, ana)
    assert f'value="{mine.pk}" data-amount="{mine.amount_cents}"' in html
    # The seat by its one name (issue 18 point 7), the train with its local time.
    assert re.search(r"Coach \d+, seat \d+", html) and "Train" in html
    # Friends' shares may be covered; their amounts show once chosen (test_price_privacy).
    friends = {share_of(checkout, u).pk for u in (olivia, ben)}
    offered = {int(n) for n in re.findall(r'data-cover-share="(\d+)"', html)}
    assert offered == friends
    assert 'src="http://127.0.0.1:9/js.stripe.com/v3/"' in html
    assert 'data-sandbox="1"' in html
    assert "csrfmiddlewaretoken" in html
    assert "data-countdown=" in html


@pytest.mark.parametrize("token", ["forged", "eyJjIjoxLCJ1IjoxfQ:abc:def"])
def test_a_forged_pay_link_is_refused_kindly(started, token):
    answer = Client().get(reverse("pay", args=[token]))
    assert answer.status_code == 404
    assert "This payment link does not work" in answer.content.decode()
    assert Client().post(reverse("pay_start", args=[token]), {"shares": ["1"]}).status_code == 404


def test_a_tampered_pay_link_is_refused(started):
    _trip, (_olivia, ana, _ben), checkout = started
    token = services.pay_link_token(checkout=checkout, payer=ana)
    answer = Client().get(reverse("pay", args=[token[:-2] + "xx"]))
    assert answer.status_code == 404


def test_pay_posts_need_the_csrf_token(started):
    _trip, (_olivia, ana, _ben), checkout = started
    client = Client(enforce_csrf_checks=True)
    token = services.pay_link_token(checkout=checkout, payer=ana)
    answer = client.post(
        reverse("pay_start", args=[token]), {"shares": [share_of(checkout, ana).pk]}
    )
    assert answer.status_code == 403
    assert not Payment.objects.exists()


def test_a_good_sandbox_card_authorises_my_share(stripe_sandbox, started):  # noqa: F811
    _trip, (_olivia, ana, _ben), checkout = started
    token = services.pay_link_token(checkout=checkout, payer=ana)
    mine = share_of(checkout, ana)
    answer = Client().post(
        reverse("pay_start", args=[token]),
        {"shares": [mine.pk], "payment_method": card_token(stripe_sandbox, CARD_OK)},
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["status"], body["state"]) == ("requires_capture", "authorised")
    mine.refresh_from_db()
    assert mine.state == "authorised"
    synced = Client().post(reverse("pay_sync", args=[token]), {"payment_id": body["payment_id"]})
    assert synced.json()["state"] == "authorised"
    page = Client().get(reverse("pay", args=[token])).content.decode()
    assert "data-pay-done" in page


def test_a_declined_card_shows_the_message_and_a_retry_pays(stripe_sandbox, started):  # noqa: F811
    _trip, (_olivia, ana, _ben), checkout = started
    token = services.pay_link_token(checkout=checkout, payer=ana)
    mine = share_of(checkout, ana)
    url = reverse("pay_start", args=[token])
    declined = Client(headers={"accept-language": "en"}).post(
        url, {"shares": [mine.pk], "payment_method": card_token(stripe_sandbox, CARD_DECLINED)}
    )
    assert declined.status_code == 402
    error = declined.json()["error"]
    assert error["code"] == "card_declined" and "declined" in error["message"]
    mine.refresh_from_db()
    assert (mine.state, mine.payment) == ("unpaid", None)
    # The page offers the form again.
    assert f'value="{mine.pk}"' in Client().get(reverse("pay", args=[token])).content.decode()

    retry = Client().post(
        url, {"shares": [mine.pk], "payment_method": card_token(stripe_sandbox, CARD_OK)}
    )
    assert retry.status_code == 200 and retry.json()["state"] == "authorised"
    assert list(
        Payment.objects.filter(payer=ana).order_by("attempt").values_list("attempt", "state")
    ) == [(1, "failed"), (2, "authorised")]


def test_the_pay_endpoints_refuse_card_numbers_and_others_payments(stripe_sandbox, started):  # noqa: F811
    _trip, (olivia, ana, _ben), checkout = started
    token = services.pay_link_token(checkout=checkout, payer=ana)
    mine = share_of(checkout, ana)
    raw = Client().post(
        reverse("pay_start", args=[token]), {"shares": [mine.pk], "payment_method": CARD_OK}
    )
    assert raw.status_code == 400
    empty = Client().post(reverse("pay_start", args=[token]), {"shares": []})
    assert empty.status_code == 400
    assert not Payment.objects.exists()
    olivias = services.payment_start(
        checkout_id=checkout.pk,
        payer=olivia,
        share_ids=[share_of(checkout, olivia).pk],
        payment_method=card_token(stripe_sandbox, CARD_OK),
    )
    other = Client().post(reverse("pay_sync", args=[token]), {"payment_id": olivias.payment.pk})
    assert other.status_code == 404


def test_covering_a_friends_share(stripe_sandbox, started):  # noqa: F811
    _trip, (olivia, ana, ben), checkout = started
    token = services.pay_link_token(checkout=checkout, payer=ana)
    answer = Client().post(
        reverse("pay_start", args=[token]),
        {
            "shares": [share_of(checkout, ana).pk, share_of(checkout, ben).pk],
            "payment_method": card_token(stripe_sandbox, CARD_OK),
        },
    )
    assert answer.status_code == 200
    payment = Payment.objects.get(pk=answer.json()["payment_id"])
    assert payment.amount_cents == share_of(checkout, ana).amount_cents * 2
    assert share_of(checkout, ben).state == "authorised"
    # Ben's page: his share is paid (by a friend), nothing left to pay for himself.
    bens = Client().get(link(checkout, ben)).content.decode()
    assert f"Paid by {ana.profile.display_name}" in bens and "data-share-mine" not in bens
    # Olivia reads that a friend paid, and may no longer cover Ben's share.
    olivias = Client().get(link(checkout, olivia)).content.decode()
    assert "Paid by a friend" in olivias
    assert f'data-cover-share="{share_of(checkout, ben).pk}"' not in olivias


def test_once_everyone_paid_each_sees_their_tickets_with_qr_codes(stripe_sandbox, started):  # noqa: F811
    trip, (olivia, ana, ben), checkout = started
    for payer, covered in ((olivia, [olivia]), (ana, [ana, ben])):
        token = services.pay_link_token(checkout=checkout, payer=payer)
        answer = Client().post(
            reverse("pay_start", args=[token]),
            {
                "shares": [share_of(checkout, u).pk for u in covered],
                "payment_method": card_token(stripe_sandbox, CARD_OK),
            },
        )
        assert answer.status_code == 200, answer.content
    # The last payment queued the confirmation: the page says so until the worker books.
    checkout.refresh_from_db()
    assert checkout.state == "confirming"
    token = services.pay_link_token(checkout=checkout, payer=ben)
    waiting = Client().get(reverse("pay", args=[token])).content.decode()
    assert "data-pay-confirming" in waiting and "data-tickets" not in waiting
    tasks_run()
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"

    client = Client()
    for user in (olivia, ana, ben):
        client.force_login(user)
        page = client.get(reverse("trip", args=[trip.pk])).content.decode()
        ticket = Ticket.objects.get(booking__trip=trip, traveller=user)
        others = Ticket.objects.filter(booking__trip=trip).exclude(traveller=user)
        assert page.count("data-ticket=") == 1
        assert f'data-ticket="{ticket.code}"' in page
        assert all(other.code not in page for other in others)
        assert re.search(r"<figure[^>]*data-ticket-qr>\s*<svg", page)
        # The QR code carries the ticket's signed code.
        assert ticket_qr_svg(ticket_signed_code(ticket)) in page
        verify = re.search(r'href="([^"]+)" data-ticket-verify', page).group(1)
        checked = Client().get(verify, headers={"Accept": "application/json"})  # a scanner
        assert checked.status_code == 200
        assert checked.json()["valid"] is True and checked.json()["ticket"]["code"] == ticket.code

    # The pay link shows the tickets too (a guest without a login).
    guest = Client().get(link(checkout, ben)).content.decode()
    assert Ticket.objects.get(booking__trip=trip, traveller=ben).code in guest
    assert "<svg" in guest
