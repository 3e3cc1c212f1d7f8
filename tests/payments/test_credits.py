"""payments.credits: the registry through which an app above payments (referrals) lets a
traveller's own credit pay part of their share, without payments importing it. Tested
here with a source of the test's own against the Stripe sandbox: the credit is reserved
at checkout start and lowers the PaymentIntent, never below Stripe's minimum; the
tickets keep their price; a dropped share or a cancelled checkout gives it back; a
ticket cancelled later refunds at most what the card paid."""

import datetime as dt

import pytest

from booking.models import Ticket
from payments import credits, deadlines, services
from payments.models import Checkout, Payment, Refund, Share, ShareItem
from sandboxes.stripe_server import CARD_3DS
from tests import factories
from tests.payments.conftest import tasks_run

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)
FLEX = {"fare_class_code": "flex-2", "passenger_type_code": "adult", "age": 35}


class Wallet:
    """A credit source of the test: cents per user id, reservations per share id."""

    def __init__(self, balances: dict[int, int]):
        self.balances = dict(balances)
        self.reserved: dict[int, tuple[int, int]] = {}  # share id → (user id, cents)
        self.calls: list[str] = []

    def available(self, *, user_ids, currency):
        self.calls.append("available")
        return {u: self.balances.get(u, 0) for u in user_ids if self.balances.get(u)}

    def reserve(self, *, share, cents):
        self.calls.append("reserve")
        got = min(cents, self.balances.get(share.traveller_id, 0))
        self.balances[share.traveller_id] -= got
        self.reserved[share.pk] = (share.traveller_id, got)
        return got

    def release(self, *, share_ids):
        back = 0
        for share_id in share_ids:
            user_id, cents = self.reserved.pop(share_id, (None, 0))
            if user_id is not None:
                self.balances[user_id] += cents
                back += cents
        return back


@pytest.fixture
def wallet():
    """Registered under a name sorted before referrals' own source, removed after."""
    made = []

    def register(balances):
        source = Wallet(balances)
        credits.register("0-test-wallet", source)
        made.append(source)
        return source

    yield register
    credits.unregister("0-test-wallet")


def share_of(checkout, user) -> Share:
    return Share.objects.get(checkout=checkout, traveller=user)


def items_total(share) -> int:
    return sum(ShareItem.objects.filter(share=share).values_list("amount_cents", flat=True))


def pay(sandbox, checkout, payer, users, card=None):
    started = services.payment_start(
        checkout_id=checkout.pk,
        payer=payer,
        share_ids=[share_of(checkout, u).pk for u in users],
        payment_method=sandbox.card_payment_method(*([card] if card else [])),
    )
    tasks_run()  # the worker: a queued confirmation runs
    return started


def intent(sandbox, payment: Payment) -> dict:
    status, body = sandbox.request("GET", f"/v1/payment_intents/{payment.stripe_payment_intent_id}")
    assert status == 200, body
    return body


def test_credit_lowers_the_share_and_the_payment_intent_not_the_tickets(
    stripe_sandbox, wallet, django_capture_on_commit_callbacks
):
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    source = wallet({olivia.pk: 700})
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)

    mine, hers = share_of(checkout, olivia), share_of(checkout, ana)
    assert (mine.credit_cents, hers.credit_cents) == (700, 0)
    assert mine.amount_cents == items_total(mine) - 700
    assert hers.amount_cents == items_total(hers)
    assert source.calls == ["available", "reserve"]  # one look for the group, one reserve
    assert source.balances[olivia.pk] == 0

    with django_capture_on_commit_callbacks(execute=True):
        paid = pay(stripe_sandbox, checkout, olivia, [olivia, ana])
    assert paid.payment.amount_cents == mine.amount_cents + hers.amount_cents
    at_stripe = intent(stripe_sandbox, paid.payment)
    assert at_stripe["amount"] == items_total(mine) + items_total(hers) - 700
    assert at_stripe["amount_received"] == at_stripe["amount"]
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    # The tickets carry the full price: the credit paid part of it.
    tickets = dict(
        Ticket.objects.filter(booking__trip=trip).values_list("traveller_id", "price_cents")
    )
    assert tickets == {olivia.pk: items_total(mine), ana.pk: items_total(hers)}
    assert services.checkout_money(checkout_id=checkout.pk).paid_cents == at_stripe["amount"]


def test_credit_never_takes_a_share_below_stripe_s_minimum(wallet):
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    source = wallet({olivia.pk: 1_000_000, ana.pk: 1})
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)

    mine, hers = share_of(checkout, olivia), share_of(checkout, ana)
    assert mine.amount_cents == credits.MIN_CHARGE_CENTS == 50
    assert mine.credit_cents == items_total(mine) - 50
    assert source.balances[olivia.pk] == 1_000_000 - mine.credit_cents  # the rest is kept
    assert (hers.amount_cents, hers.credit_cents) == (items_total(hers) - 1, 1)


def test_a_source_reserving_more_than_asked_is_refused_and_nothing_is_written(wallet):
    trip, (olivia, _ana), _departure = factories.checkout_ready_trip(travellers=2)
    source = wallet({olivia.pk: 300})
    source.reserve = lambda *, share, cents: cents + 1
    with pytest.raises(ValueError):
        services.checkout_start(trip_id=trip.pk, by=olivia)
    assert not Checkout.objects.filter(trip=trip).exists()


def test_no_credit_changes_nothing_and_costs_one_look(wallet):
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    source = wallet({})
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    for user in (olivia, ana, ben):
        share = share_of(checkout, user)
        assert (share.amount_cents, share.credit_cents) == (items_total(share), 0)
    assert source.calls == ["available"]


def test_cancel_all_gives_the_credit_back(stripe_sandbox, wallet):
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    source = wallet({olivia.pk: 400, ana.pk: 300})
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="cancel_all")
    pay(stripe_sandbox, checkout, olivia, [olivia])
    assert source.balances == {olivia.pk: 0, ana.pk: 0}

    assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1

    assert Checkout.objects.get(pk=checkout.pk).state == "cancelled"
    assert source.balances == {olivia.pk: 400, ana.pk: 300}
    assert source.reserved == {}
    # Again: nothing more comes back.
    assert deadlines.checkouts_deadline(now=checkout.deadline_at + 60 * SECOND) == 0
    assert source.balances == {olivia.pk: 400, ana.pk: 300}


def test_go_ahead_gives_the_dropped_traveller_s_credit_back_and_keeps_the_payer_s(
    stripe_sandbox, wallet, django_capture_on_commit_callbacks
):
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    source = wallet({olivia.pk: 500, ben.pk: 200})
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
    pay(stripe_sandbox, checkout, olivia, [olivia])
    pay(stripe_sandbox, checkout, ana, [ana])
    pay(stripe_sandbox, checkout, ben, [ben], card=CARD_3DS)  # never finished

    with django_capture_on_commit_callbacks(execute=True):
        assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1

    assert Checkout.objects.get(pk=checkout.pk).state == "confirmed"
    assert share_of(checkout, ben).state == "released"
    assert source.balances == {olivia.pk: 0, ben.pk: 200}  # Ben's came back, Olivia's spent
    assert list(source.reserved) == [share_of(checkout, olivia).pk]


def test_a_ticket_paid_partly_by_credit_refunds_at_most_what_the_card_paid(
    stripe_sandbox, wallet, django_capture_on_commit_callbacks
):
    trip, (olivia,), _departure = factories.checkout_ready_trip(travellers=1, fares={0: FLEX})
    wallet({olivia.pk: 2000})
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    share = share_of(checkout, olivia)
    assert share.credit_cents == 2000
    with django_capture_on_commit_callbacks(execute=True):
        paid = pay(stripe_sandbox, checkout, olivia, [olivia])
    ticket = Ticket.objects.select_related("fare_class").get(booking__trip=trip)
    # Flex refunds its price less the 5.00 fee: more than the card paid. The card gets
    # back what it paid; the credit is spent.
    assert ticket.price_cents - ticket.fare_class.refund_fee_cents > share.amount_cents

    result = services.ticket_cancel(ticket_id=ticket.pk, by=olivia)

    refund = Refund.objects.get(ticket=ticket)
    assert result.refund == refund
    assert (refund.amount_cents, refund.state) == (share.amount_cents, "succeeded")
    status, at_stripe = stripe_sandbox.request("GET", f"/v1/refunds/{refund.stripe_refund_id}")
    assert status == 200 and at_stripe["amount"] == paid.payment.amount_cents
    ticket.refresh_from_db()
    assert ticket.refunded_cents == share.amount_cents


def test_without_credit_a_flex_refund_is_unchanged(stripe_sandbox, wallet):
    trip, (olivia,), _departure = factories.checkout_ready_trip(travellers=1, fares={0: FLEX})
    wallet({})
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    pay(stripe_sandbox, checkout, olivia, [olivia])
    ticket = Ticket.objects.select_related("fare_class").get(booking__trip=trip)
    services.ticket_cancel(ticket_id=ticket.pk, by=olivia)
    assert Refund.objects.get(ticket=ticket).amount_cents == ticket.price_cents - 500
