"""Incentives (issue 6 §5): with REFERRALS["INCENTIVE"] on, a friend's first booking
through a share earns its sharer REWARD_CENTS of credit, once per friend, never for
oneself; it pays part of the sharer's own share at their next checkout (the PaymentIntent
is lower, the tickets keep their price); a cancelled checkout or a dropped share gives it
back; a refund of the friend's booking takes back what is not spent. Against the Stripe
sandbox, as the payments tests."""

import datetime as dt
import threading
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.test import Client
from django.urls import reverse

from booking import plan
from booking.models import Ticket
from payments import deadlines, services
from payments.models import Share, ShareItem
from referrals.models import Conversion, Reward, RewardUse
from referrals.selectors import reward_balance_get
from referrals.services import RewardCredits, share_link_get_or_create
from tests import factories
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process, tasks_run  # noqa: F401
from tests.referrals.booked import book
from tests.referrals.helpers import browser

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)
FLEX = {"fare_class_code": "flex-2", "passenger_type_code": "adult", "age": 35}


@pytest.fixture
def sandbox(stripe_sandbox):  # noqa: F811 (the fixture imported above)
    return stripe_sandbox


@pytest.fixture
def incentive(settings):
    settings.REFERRALS = settings.REFERRALS | {"INCENTIVE": True, "REWARD_CENTS": 500}


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """booking announces bookings and refunds after commit: run those callbacks."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


_ips = iter(range(10, 250))


def came_through(link, person) -> None:
    """``person``, logged in and consenting, opens ``link`` (so their later bookings are
    traced to it)."""
    client = browser(f"198.51.100.{next(_ips)}")
    assert client.post(reverse("referral_consent"), {"decision": "granted"}).status_code == 302
    client.force_login(person)
    assert client.get(reverse("referral_landing", args=[link.code])).status_code == 200


def share_of(checkout, user) -> Share:
    return Share.objects.get(checkout=checkout, traveller=user)


def items_total(share) -> int:
    return sum(ShareItem.objects.filter(share=share).values_list("amount_cents", flat=True))


def book_by_card(sandbox, trip, organiser, on_commit, policy="go_ahead"):
    """The organiser starts the checkout and pays every share: the booking is made."""
    checkout = services.checkout_start(trip_id=trip.pk, by=organiser, policy=policy)
    with on_commit():
        services.payment_start(
            checkout_id=checkout.pk,
            payer=organiser,
            share_ids=list(Share.objects.filter(checkout=checkout).values_list("pk", flat=True)),
            payment_method=sandbox.card_payment_method(),
        )
        tasks_run()  # the worker: a queued confirmation runs
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    return checkout


def intent_amount(sandbox, payment) -> tuple[int, int]:
    status, body = sandbox.request("GET", f"/v1/payment_intents/{payment.stripe_payment_intent_id}")
    assert status == 200, body
    return body["amount"], body["amount_received"]


@pytest.fixture
def alice_shared():
    """Alice (an organiser with a friend, her trip ready for checkout) and her link."""
    trip, (alice, ana), _departure = factories.checkout_ready_trip(travellers=2)
    link = share_link_get_or_create(trip_id=trip.pk, sharer=alice, channel="whatsapp")
    return trip, alice, ana, link


def friend_books(sandbox, link, on_commit, fares=None):
    """A friend of nobody in Alice's group opens her link, then books their own trip."""
    trip, (friend,), _departure = factories.checkout_ready_trip(travellers=1, fares=fares)
    came_through(link, friend)
    checkout = book_by_card(sandbox, trip, friend, on_commit)
    return friend, trip, checkout


# --- Earned --------------------------------------------------------------------------------


def test_a_friend_s_booking_earns_a_reward_spent_on_the_sharer_s_next_share(
    sandbox,
    incentive,
    alice_shared,
    on_commit,
):
    trip, alice, ana, link = alice_shared
    friend, _friend_trip, _ = friend_books(sandbox, link, on_commit)

    reward = Reward.objects.get()
    assert (reward.sharer, reward.friend, reward.link) == (alice, friend, link)
    assert (reward.amount_cents, reward.currency, reward.state) == (500, "EUR", "earned")
    assert reward.conversion == Conversion.objects.get(kind="booking", user=friend)
    balance = reward_balance_get(user=alice)
    assert (balance.available_cents, balance.reserved_cents, balance.friends) == (500, 0, 1)

    checkout = services.checkout_start(trip_id=trip.pk, by=alice)
    mine, hers = share_of(checkout, alice), share_of(checkout, ana)
    assert (mine.credit_cents, mine.amount_cents) == (500, items_total(mine) - 500)
    assert (hers.credit_cents, hers.amount_cents) == (0, items_total(hers))  # only her own
    use = RewardUse.objects.get()
    assert (use.reward, use.share, use.amount_cents, use.state) == (reward, mine, 500, "reserved")
    balance = reward_balance_get(user=alice)
    assert (balance.available_cents, balance.reserved_cents) == (0, 500)

    with on_commit():
        started = services.payment_start(
            checkout_id=checkout.pk,
            payer=alice,
            share_ids=[mine.pk, hers.pk],
            payment_method=sandbox.card_payment_method(),
        )
        tasks_run()  # the worker: a queued confirmation runs
    total = items_total(mine) + items_total(hers)
    assert intent_amount(sandbox, started.payment) == (total - 500, total - 500)
    use.refresh_from_db()
    reward.refresh_from_db()
    assert use.state == "spent"
    assert (reward.state, reward.used_cents, reward.left_cents) == ("spent", 500, 0)
    assert reward.spent_at is not None
    tickets = Ticket.objects.filter(booking__trip=trip, traveller=alice)
    assert sum(t.price_cents for t in tickets) == items_total(mine)  # full price
    balance = reward_balance_get(user=alice)
    assert (balance.available_cents, balance.reserved_cents, balance.spent_cents) == (0, 0, 500)


def test_the_sharer_booking_through_their_own_link_earns_nothing(
    incentive, alice_shared, on_commit
):
    _trip, alice, _ana, link = alice_shared
    came_through(link, alice)
    other = factories.trip(organiser=alice, days_ahead=3)
    book(other, [alice], on_commit)

    assert not Conversion.objects.filter(kind="booking").exists()
    assert not Reward.objects.exists()
    with pytest.raises(IntegrityError):  # and the table says it too
        Reward.objects.create(
            sharer=alice, friend=alice, amount_cents=500, currency="EUR", earned_at=other.created_at
        )


def test_a_friend_earns_one_reward_ever(incentive, alice_shared, on_commit):
    _trip, alice, _ana, link = alice_shared
    friend = factories.user("Fred Friend")
    came_through(link, friend)
    book(factories.trip(organiser=friend, days_ahead=3), [friend], on_commit)
    # A second booking, after opening someone else's share too: nothing more.
    bob_trip = factories.trip(organiser=factories.user("Bob Sharer"))
    bobs = share_link_get_or_create(trip_id=bob_trip.pk, sharer=bob_trip.created_by, channel="x")
    came_through(bobs, friend)
    book(factories.trip(organiser=friend, days_ahead=4), [friend], on_commit)

    assert Conversion.objects.filter(kind="booking", user=friend).count() == 2
    assert list(Reward.objects.values_list("sharer", "friend")) == [(alice.pk, friend.pk)]


def test_two_friends_earn_two_rewards_spent_oldest_first(incentive, alice_shared, on_commit):
    trip, alice, _ana, link = alice_shared
    for name in ("First Friend", "Second Friend"):
        friend = factories.user(name)
        came_through(link, friend)
        book(factories.trip(organiser=friend, days_ahead=3), [friend], on_commit)
    assert reward_balance_get(user=alice).available_cents == 1000

    checkout = services.checkout_start(trip_id=trip.pk, by=alice)

    assert share_of(checkout, alice).credit_cents == 1000
    assert sorted(RewardUse.objects.values_list("amount_cents", flat=True)) == [500, 500]


def test_nothing_when_the_incentive_is_off(settings, alice_shared, on_commit):
    settings.REFERRALS = settings.REFERRALS | {"INCENTIVE": False}
    trip, alice, _ana, link = alice_shared
    friend = factories.user("Fred Friend")
    came_through(link, friend)
    book(factories.trip(organiser=friend, days_ahead=3), [friend], on_commit)

    assert Conversion.objects.filter(kind="booking", user=friend).exists()  # still attributed
    assert not Reward.objects.exists()
    checkout = services.checkout_start(trip_id=trip.pk, by=alice)
    mine = share_of(checkout, alice)
    assert (mine.credit_cents, mine.amount_cents) == (0, items_total(mine))
    assert not reward_balance_get(user=alice).any


def test_credit_earned_while_on_is_still_honoured_after_the_switch_is_off(
    settings, incentive, alice_shared, on_commit
):
    trip, alice, _ana, link = alice_shared
    friend = factories.user("Fred Friend")
    came_through(link, friend)
    book(factories.trip(organiser=friend, days_ahead=3), [friend], on_commit)
    settings.REFERRALS = settings.REFERRALS | {"INCENTIVE": False}

    checkout = services.checkout_start(trip_id=trip.pk, by=alice)

    assert share_of(checkout, alice).credit_cents == 500


# --- Given back ----------------------------------------------------------------------------


def test_a_cancelled_checkout_gives_the_credit_back_for_the_next_one(
    sandbox,
    incentive,
    alice_shared,
    on_commit,
):
    trip, alice, _ana, link = alice_shared
    friend_books(sandbox, link, on_commit)
    checkout = services.checkout_start(trip_id=trip.pk, by=alice, policy="cancel_all")
    services.payment_start(
        checkout_id=checkout.pk,
        payer=alice,
        share_ids=[share_of(checkout, alice).pk],
        payment_method=sandbox.card_payment_method(),
    )
    tasks_run()  # the worker: a queued confirmation runs
    assert reward_balance_get(user=alice).reserved_cents == 500

    assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1

    reward = Reward.objects.get()
    assert (reward.state, reward.used_cents, reward.left_cents) == ("earned", 0, 500)
    assert RewardUse.objects.get().state == "released"
    balance = reward_balance_get(user=alice)
    assert (balance.available_cents, balance.reserved_cents) == (500, 0)

    # The group tries again: the credit applies again, and is spent with the booking.
    plan.sit_together(trip_id=trip.pk, user=alice, leg="outbound")
    again = book_by_card(sandbox, trip, alice, on_commit)
    assert share_of(again, alice).credit_cents == 500
    assert Reward.objects.get().state == "spent"
    assert sorted(RewardUse.objects.values_list("state", flat=True)) == ["released", "spent"]


def test_a_dropped_share_gives_the_credit_back(sandbox, incentive, on_commit):
    trip, (olivia, alice), _departure = factories.checkout_ready_trip(travellers=2)
    link = share_link_get_or_create(trip_id=trip.pk, sharer=alice, channel="copy")
    friend_books(sandbox, link, on_commit)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
    assert share_of(checkout, alice).credit_cents == 500
    services.payment_start(
        checkout_id=checkout.pk,
        payer=olivia,
        share_ids=[share_of(checkout, olivia).pk],
        payment_method=sandbox.card_payment_method(),
    )
    tasks_run()  # the worker: a queued confirmation runs

    with on_commit():  # Alice never paid: she is dropped, the others go ahead
        assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1

    assert share_of(checkout, alice).state == "released"
    assert RewardUse.objects.get().state == "released"
    assert reward_balance_get(user=alice).available_cents == 500
    assert Reward.objects.get().state == "earned"


# --- Reversed ------------------------------------------------------------------------------


def test_a_refund_of_the_friend_s_booking_reverses_an_unspent_reward(
    sandbox,
    incentive,
    alice_shared,
    on_commit,
):
    trip, alice, _ana, link = alice_shared
    friend, friend_trip, _ = friend_books(sandbox, link, on_commit, fares={0: FLEX})
    ticket = Ticket.objects.get(booking__trip=friend_trip, traveller=friend)

    with on_commit():
        cancelled = services.ticket_cancel(ticket_id=ticket.pk, by=friend)
    assert cancelled.refund.state == "succeeded"

    reward = Reward.objects.get()
    assert (reward.state, reward.reversed_cents, reward.left_cents) == ("reversed", 500, 0)
    assert reward.reversed_at is not None
    assert not reward_balance_get(user=alice).any
    checkout = services.checkout_start(trip_id=trip.pk, by=alice)
    assert share_of(checkout, alice).credit_cents == 0


def test_a_refund_while_the_credit_is_reserved_takes_it_back_when_released(
    sandbox,
    incentive,
    alice_shared,
    on_commit,
):
    trip, alice, _ana, link = alice_shared
    friend, friend_trip, _ = friend_books(sandbox, link, on_commit, fares={0: FLEX})
    checkout = services.checkout_start(trip_id=trip.pk, by=alice, policy="cancel_all")
    ticket = Ticket.objects.get(booking__trip=friend_trip, traveller=friend)
    with on_commit():
        services.ticket_cancel(ticket_id=ticket.pk, by=friend)
    reward = Reward.objects.get()
    # Still on Alice's share while her checkout runs…
    assert (reward.state, reward.used_cents, reward.reversed_cents) == ("reversed", 500, 0)
    assert share_of(checkout, alice).credit_cents == 500

    assert deadlines.checkouts_deadline(now=checkout.deadline_at + SECOND) == 1

    # …and not given back when it ends.
    reward.refresh_from_db()
    assert (reward.used_cents, reward.reversed_cents, reward.left_cents) == (0, 500, 0)
    assert reward_balance_get(user=alice).available_cents == 0


def test_a_refund_after_the_credit_was_spent_leaves_it_spent(
    sandbox,
    incentive,
    alice_shared,
    on_commit,
):
    trip, alice, _ana, link = alice_shared
    friend, friend_trip, _ = friend_books(sandbox, link, on_commit, fares={0: FLEX})
    book_by_card(sandbox, trip, alice, on_commit)
    ticket = Ticket.objects.get(booking__trip=friend_trip, traveller=friend)

    with on_commit():
        services.ticket_cancel(ticket_id=ticket.pk, by=friend)

    reward = Reward.objects.get()
    assert (reward.state, reward.used_cents, reward.reversed_cents) == ("spent", 500, 0)
    assert Conversion.objects.get(user=friend, kind="booking").reversed_cents > 0


# --- Revenue -------------------------------------------------------------------------------


def test_a_booking_paid_partly_by_credit_counts_the_money_taken_as_revenue(
    sandbox,
    incentive,
    alice_shared,
    on_commit,
):
    trip, alice, _ana, link = alice_shared
    friend_books(sandbox, link, on_commit)  # Alice has 5.00 of credit
    bob_trip = factories.trip(organiser=factories.user("Bob Sharer"))
    bobs = share_link_get_or_create(trip_id=bob_trip.pk, sharer=bob_trip.created_by, channel="x")
    came_through(bobs, alice)  # and she came through Bob's share herself

    checkout = book_by_card(sandbox, trip, alice, on_commit)

    mine = share_of(checkout, alice)
    converted = Conversion.objects.get(kind="booking", user=alice)
    assert converted.link == bobs
    assert converted.amount_cents == items_total(mine) - 500 == mine.amount_cents
    # Alice's first booking earns Bob a reward, like any friend's.
    assert Reward.objects.get(friend=alice).sharer == bob_trip.created_by


# --- Pages ---------------------------------------------------------------------------------


def english(user) -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(user)
    return client


def test_the_account_page_shows_the_credit(incentive, alice_shared, on_commit):
    trip, alice, ana, link = alice_shared
    friend = factories.user("Fred Friend")
    came_through(link, friend)
    book(factories.trip(organiser=friend, days_ahead=3), [friend], on_commit)
    services.checkout_start(trip_id=trip.pk, by=alice)

    html = english(alice).get(reverse("my_account")).content.decode()
    assert "Your referral credit" in html
    assert "1 friend booked through your shares." in html
    assert "€5.00 is set aside on a payment under way." in html

    french = Client()
    french.cookies["django_language"] = "fr"
    french.force_login(ana)
    assert "data-referral-credit" in french.get(reverse("my_account")).content.decode()


def test_the_account_page_says_nothing_of_credit_when_off_and_none(settings, alice_shared):
    settings.REFERRALS = settings.REFERRALS | {"INCENTIVE": False}
    _trip, alice, _ana, _link = alice_shared
    html = english(alice).get(reverse("my_account")).content.decode()
    assert "data-referral-credit" not in html


def test_the_pay_page_shows_the_credit_on_the_sharer_s_share(incentive, alice_shared, on_commit):
    trip, alice, ana, link = alice_shared
    friend = factories.user("Fred Friend")
    came_through(link, friend)
    book(factories.trip(organiser=friend, days_ahead=3), [friend], on_commit)
    checkout = services.checkout_start(trip_id=trip.pk, by=alice)

    def page(user):
        token = services.pay_link_token(checkout=checkout, payer=user)
        response = english(user).get(reverse("pay", args=[token]))
        assert response.status_code == 200
        return response.content.decode()

    mine = share_of(checkout, alice)
    html = page(alice)
    assert "Your referral credit of €5.00 is taken off your share." in html
    assert f'data-amount="{mine.amount_cents}"' in html  # what the card pays
    assert "data-pay-credit" not in page(ana)


def test_staff_see_rewards_in_the_admin(incentive, alice_shared, on_commit):
    _trip, alice, _ana, link = alice_shared
    friend = factories.user("Fred Friend")
    came_through(link, friend)
    book(factories.trip(organiser=friend, days_ahead=3), [friend], on_commit)
    reward = Reward.objects.get()
    staff = factories.user("Staff Person")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client = english(staff)

    listing = client.get(reverse("admin:referrals_reward_changelist"))
    assert listing.status_code == 200 and alice.username in listing.content.decode()
    detail = client.get(reverse("admin:referrals_reward_change", args=[reward.pk]))
    assert detail.status_code == 200
    assert client.get(reverse("admin:referrals_reward_add")).status_code == 403


# --- Two checkouts of the same sharer at once (PostgreSQL) -----------------------------------

on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(not on_postgres, reason="needs PostgreSQL: real row locks, many connections")
@pytest.mark.django_db(transaction=True)
def test_two_reservations_at_once_never_spend_the_credit_twice():
    trip_a, (alice, _ana), _departure = factories.checkout_ready_trip(travellers=2)
    trip_b, (olivia, _ben), _departure = factories.checkout_ready_trip(travellers=2)
    shares = [
        share_of(services.checkout_start(trip_id=trip.pk, by=by), by)
        for trip, by in ((trip_a, alice), (trip_b, olivia))
    ]
    Reward.objects.create(
        sharer=alice, amount_cents=500, currency="EUR", earned_at=trip_a.created_at
    )
    source = RewardCredits()
    barrier = threading.Barrier(2)
    outcomes = []

    def reserve(share):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            with transaction.atomic():
                # As checkout_start does, for Alice's share of each of two checkouts.
                mine = SimpleNamespace(pk=share.pk, traveller_id=alice.pk, currency="EUR")
                outcomes.append(source.reserve(share=mine, cents=500))
        except Exception as error:  # pragma: no cover - reported below
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reserve, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == [0, 500], outcomes
    reward = Reward.objects.get()
    assert (reward.used_cents, reward.left_cents) == (500, 0)
    assert RewardUse.objects.count() == 1
