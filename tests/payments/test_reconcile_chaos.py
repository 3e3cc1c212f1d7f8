"""Reconciliation against the Stripe sandbox, and the crash it exists for: a process killed
between a capture at Stripe and our commit.

The chaos test runs the last payer's payment (whose authorisation starts the booking's
confirmation) in a separate ``python`` process against the test database, with Stripe's
capture wrapped so that the process dies (``os._exit``: no cleanup, no rollback handler,
like a kill -9) right after the Nth capture succeeded at Stripe. Then ``reconcile`` runs
here, and the money and the tickets must agree: every captured PaymentIntent (as listed
by the sandbox) has its tickets, every ticket its captured payment, and no PaymentIntent
was charged twice. A second process needs a database both can open: PostgreSQL only. The
same crash is also simulated inside this process (an exception no handler catches, raised
at the same point), which runs on SQLite too.
"""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client

from booking.models import Booking, Ticket
from payments import services
from payments import stripe_gateway as gateway
from payments.models import Checkout, Payment, Share, ShareItem
from payments.reconcile import reconcile
from tests import factories
from tests.payments.conftest import tasks_run

ROOT = Path(__file__).resolve().parents[2]
on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


# --- Helpers -----------------------------------------------------------------------------


def checkout_started(travellers=3):
    trip, users, _departure = factories.checkout_ready_trip(travellers=travellers)
    checkout = services.checkout_start(trip_id=trip.pk, by=users[0])
    return checkout, users


def share_of(checkout, user) -> Share:
    return Share.objects.get(checkout=checkout, traveller=user)


def pay(sandbox, checkout, user):
    started = services.payment_start(
        checkout_id=checkout.pk,
        payer=user,
        share_ids=[share_of(checkout, user).pk],
        payment_method=sandbox.card_payment_method(),
    )
    tasks_run()  # the worker: a queued confirmation runs
    return started


def sandbox_known(sandbox) -> set[str]:
    """The PaymentIntents the sandbox had before a test (other tests' objects)."""
    return {pi["id"] for pi in sandbox.payment_intents()}


def sandbox_intents(sandbox, checkout, before: set[str]) -> list[dict]:
    """The checkout's PaymentIntents as the sandbox lists them, by the metadata we put on
    them, leaving out those of earlier tests (ids come back after a rollback on SQLite)."""
    return [
        pi
        for pi in sandbox.payment_intents()
        if pi["id"] not in before
        and pi["metadata"].get("checkout") == str(checkout.pk)
        and pi["metadata"].get("trip") == str(checkout.trip_id)
    ]


def assert_money_and_tickets_agree(sandbox, checkout, before: set[str]) -> None:
    intents = sandbox_intents(sandbox, checkout, before)
    assert intents, "the sandbox lists no PaymentIntent of this checkout"
    tickets = list(Ticket.objects.filter(booking__trip_id=checkout.trip_id))
    ticketed = {(t.traveller_id, t.allocation_id) for t in tickets}
    for intent in intents:
        payment = Payment.objects.get(stripe_payment_intent_id=intent["id"])
        if intent["status"] == "succeeded":
            # Captured once: one charge, exactly our amount received.
            assert intent["charges"]["total_count"] == 1, intent["id"]
            assert intent["amount_received"] == payment.amount_cents == intent["amount"]
            assert payment.state == "captured", (intent["id"], payment.state)
            items = ShareItem.objects.filter(share__payment=payment).select_related("share")
            assert items, f"{intent['id']} captured for no share"
            for item in items:
                assert item.share.state == "captured"
                assert (item.share.traveller_id, item.allocation_id) in ticketed, (
                    f"{intent['id']} captured without a ticket"
                )
        else:
            assert payment.state != "captured", (intent["id"], intent["status"])
    succeeded = {pi["id"] for pi in intents if pi["status"] == "succeeded"}
    for ticket in tickets:
        item = ShareItem.objects.select_related("share__payment").get(
            allocation_id=ticket.allocation_id
        )
        assert item.share.state == "captured", f"ticket {ticket.code} without money"
        assert item.share.payment.stripe_payment_intent_id in succeeded


# --- The chaos test: a real process, killed ----------------------------------------------

CHILD = """
import json, os, sys
import django

config = json.loads(os.environ["CHAOS_CONFIG"])
django.setup()

from django.contrib.auth import get_user_model
from payments import services, tasks
from payments import stripe_gateway as gateway

capture = gateway.payment_intent_capture
done = []

def capture_then_die(*args, **kwargs):
    answer = capture(*args, **kwargs)  # the money is taken at Stripe...
    done.append(answer.id)
    if len(done) == config["die_after"]:
        os._exit(1)  # ...and the process dies before our commit: no cleanup at all
    return answer

gateway.payment_intent_capture = capture_then_die
services.payment_start(
    checkout_id=config["checkout"],
    payer=get_user_model().objects.get(pk=config["payer"]),
    share_ids=[config["share"]],
    payment_method=config["payment_method"],
)
tasks.checkout_confirmations()  # the worker runs the queued confirmation
print("not killed", done)
"""


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    at = f"{user}{password}@" if user else ""
    return f"postgres://{at}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.mark.postgres
@pytest.mark.skipif(
    not on_postgres,
    reason="needs PostgreSQL (DATABASE_URL): the killed process and this one must share "
    "the test database; SQLite's test database lives in this process's memory",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("die_after", [1, 3], ids=["after-first-capture", "after-last-capture"])
@pytest.mark.parametrize("at_once", [1, 8], ids=["one-by-one", "side-by-side"])
def test_a_process_killed_between_capture_and_commit_is_repaired(
    die_after, at_once, stripe_sandbox
):
    before = sandbox_known(stripe_sandbox)
    checkout, (olivia, ana, ben) = checkout_started()
    pay(stripe_sandbox, checkout, olivia)
    pay(stripe_sandbox, checkout, ana)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": _database_url(),
        "PYTHONPATH": str(ROOT),
        "CHAOS_CONFIG": json.dumps(
            {
                "checkout": checkout.pk,
                "payer": ben.pk,
                "share": share_of(checkout, ben).pk,
                "payment_method": stripe_sandbox.card_payment_method(),
                "die_after": die_after,
            }
        ),
        **{name: str(value) for name, value in stripe_sandbox.settings().items()},
        "STRIPE_CALLS_AT_ONCE": str(at_once),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert child.returncode == 1, child.stderr.decode()[-3000:]

    # The crash left drift: money taken at Stripe, nothing booked here.
    checkout.refresh_from_db()
    assert checkout.state == "confirming"
    assert not Booking.objects.filter(trip_id=checkout.trip_id).exists()
    captured_there = [
        pi["id"]
        for pi in sandbox_intents(stripe_sandbox, checkout, before)
        if pi["status"] == "succeeded"
    ]
    if at_once == 1:
        assert len(captured_there) == die_after
    else:  # the captures under way when it died may have gone through at Stripe too
        assert die_after <= len(captured_there) <= 3
    assert not Payment.objects.filter(checkout=checkout, state="captured").exists()

    changes = reconcile(trip_id=checkout.trip_id)

    assert any("confirming → confirmed" in str(c) for c in changes), changes
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    assert Ticket.objects.filter(booking__trip_id=checkout.trip_id).count() == 3
    assert_money_and_tickets_agree(stripe_sandbox, checkout, before)
    assert reconcile(trip_id=checkout.trip_id) == []  # idempotent


# --- The same crash inside this process (SQLite and PostgreSQL) ---------------------------


class ProcessKilled(BaseException):
    """Stands for a kill: no ``except Exception`` (nor our StripeError handlers) stops it."""


def crash_after_captures(monkeypatch, count: int) -> list[str]:
    capture = gateway.payment_intent_capture
    done: list[str] = []

    def capture_then_crash(*args, **kwargs):
        answer = capture(*args, **kwargs)
        done.append(answer.id)
        if len(done) == count:
            raise ProcessKilled()
        return answer

    monkeypatch.setattr(gateway, "payment_intent_capture", capture_then_crash)
    return done


@pytest.mark.django_db
@pytest.mark.parametrize("die_after", [1, 2, 3])
@pytest.mark.parametrize("at_once", [1, 8], ids=["one-by-one", "side-by-side"])
def test_a_crash_between_capture_and_commit_is_repaired_in_process(
    die_after, at_once, stripe_sandbox, monkeypatch, settings
):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "STRIPE_CALLS_AT_ONCE": at_once}
    before = sandbox_known(stripe_sandbox)
    checkout, (olivia, ana, ben) = checkout_started()
    pay(stripe_sandbox, checkout, olivia)
    pay(stripe_sandbox, checkout, ana)
    done = crash_after_captures(monkeypatch, die_after)
    with pytest.raises(ProcessKilled):
        pay(stripe_sandbox, checkout, ben)
    monkeypatch.undo()
    # Side by side, the three captures were all under way when the first "kill" came.
    assert len(done) == (die_after if at_once == 1 else 3)
    checkout.refresh_from_db()
    assert checkout.state == "confirming"

    out = StringIO()
    call_command("reconcile", "--trip", str(checkout.trip_id), stdout=out)

    lines = out.getvalue().splitlines()
    assert f"checkout {checkout.pk}: confirming → confirmed" in lines
    assert f"checkout {checkout.pk}: tickets 0 → 3" in lines
    assert sum("authorised → captured" in line for line in lines) == 3
    assert_money_and_tickets_agree(stripe_sandbox, checkout, before)
    again = StringIO()
    call_command("reconcile", "--trip", str(checkout.trip_id), stdout=again)
    assert again.getvalue().strip() == "Nothing to repair."


# --- Other drift -------------------------------------------------------------------------


def _state(checkout) -> tuple:
    checkout.refresh_from_db()
    return (
        checkout.state,
        sorted(Share.objects.filter(checkout=checkout).values_list("pk", "state", "payment_id")),
        sorted(Payment.objects.filter(checkout=checkout).values_list("pk", "state")),
    )


@pytest.mark.django_db
def test_authorised_here_but_cancelled_at_stripe_frees_the_share(stripe_sandbox):
    checkout, (olivia, _ana, _ben) = checkout_started()
    payment = pay(stripe_sandbox, checkout, olivia).payment
    gateway.payment_intent_cancel(
        payment.stripe_payment_intent_id, idempotency_key=payment.idempotency_key("cancel")
    )

    changes = [str(c) for c in reconcile(trip_id=checkout.trip_id)]

    payment.refresh_from_db()
    share = share_of(checkout, olivia)
    assert payment.state == "failed"
    assert (share.state, share.payment_id) == ("unpaid", None)
    assert changes == [
        f"checkout {checkout.pk}: payment {payment.pk} ({payment.stripe_payment_intent_id}) "
        "authorised → failed",
        f"checkout {checkout.pk}: share {share.pk} authorised (payment {payment.pk}) → unpaid",
    ]
    assert reconcile(trip_id=checkout.trip_id) == []


@pytest.mark.django_db
def test_authorised_at_stripe_but_created_here_is_authorised_and_dry_run_writes_nothing(
    stripe_sandbox,
):
    checkout, (olivia, _ana, _ben) = checkout_started()
    share = share_of(checkout, olivia)
    payment = services.payment_start(
        checkout_id=checkout.pk, payer=olivia, share_ids=[share.pk]
    ).payment
    intent_id = payment.stripe_payment_intent_id
    # The payer's page confirmed the card with Stripe.js, then the phone went offline.
    card = stripe_sandbox.card_payment_method()
    stripe_sandbox.request("POST", f"/v1/payment_intents/{intent_id}", {"payment_method": card})
    status, body = stripe_sandbox.request("POST", f"/v1/payment_intents/{intent_id}/confirm", {})
    assert (status, body["status"]) == (200, "requires_capture")
    before = _state(checkout)

    out = StringIO()
    call_command("reconcile", "--dry-run", stdout=out)
    assert f"checkout {checkout.pk}: would move payment {payment.pk}" in out.getvalue()
    assert _state(checkout) == before

    reconcile(checkout_ids=[checkout.pk])
    payment.refresh_from_db()
    share.refresh_from_db()
    assert (payment.state, share.state) == ("authorised", "authorised")


@pytest.mark.django_db
def test_every_share_authorised_but_never_confirmed_is_confirmed(stripe_sandbox, monkeypatch):
    checkout, users = checkout_started()
    # The process stopped after the last authorisation, before it queued the confirmation.
    monkeypatch.setattr(services, "checkout_confirm_enqueue", lambda **kwargs: None)
    for user in users:
        pay(stripe_sandbox, checkout, user)
    monkeypatch.undo()
    assert _state(checkout)[0] == "open"

    reconcile(trip_id=checkout.trip_id)

    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    assert Ticket.objects.filter(booking__trip_id=checkout.trip_id).count() == 3


@pytest.mark.django_db
def test_settled_checkouts_are_not_read_again(stripe_sandbox, monkeypatch):
    checkout, users = checkout_started()
    for user in users:
        pay(stripe_sandbox, checkout, user)
    assert Checkout.objects.get(pk=checkout.pk).state == "confirmed"
    monkeypatch.setattr(
        gateway, "payment_intent_retrieve", lambda *a, **k: pytest.fail("read Stripe")
    )

    assert reconcile() == []


@pytest.mark.django_db
def test_the_admin_action_reconciles_the_selected_checkouts(stripe_sandbox, monkeypatch):
    checkout, (olivia, _ana, _ben) = checkout_started()
    payment = pay(stripe_sandbox, checkout, olivia).payment
    gateway.payment_intent_cancel(
        payment.stripe_payment_intent_id, idempotency_key=payment.idempotency_key("cancel")
    )
    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-staff-1")
    client = Client()
    client.force_login(staff)

    answer = client.post(
        "/admin/payments/checkout/",
        {"action": "reconcile_selected", "_selected_action": [checkout.pk]},
        follow=True,
    )

    assert answer.status_code == 200
    shown = [str(m) for m in answer.context["messages"]]
    assert (
        f"checkout {checkout.pk}: payment {payment.pk} ({payment.stripe_payment_intent_id}) "
        "authorised → failed" in shown
    )
    payment.refresh_from_db()
    assert payment.state == "failed"

    again = client.post(
        "/admin/payments/checkout/",
        {"action": "reconcile_selected", "_selected_action": [checkout.pk]},
        follow=True,
    )
    # One message, "nothing changed" (in the staff member's language), no change line.
    shown = [str(m) for m in again.context["messages"]]
    assert len(shown) == 1 and f"checkout {checkout.pk}" not in shown[0]
