"""Issue 19's Done-when (e-mail; web push has its own test): a trip of three reaches
checkout; each traveller receives, in a real SMTP server (aiosmtpd), the checkout e-mail,
whose pay link opens their own pay page in Chromium; each pays there (the Stripe
sandbox's test cards) and receives a receipt with their card's last four digits, then
the confirmation with their ticket, its QR code as an inline image and a calendar
invitation parsed back with ``icalendar``.

On PostgreSQL the sender is the real worker process (``manage.py worker`` on the test
database, sending to aiosmtpd over SMTP): it is killed (SIGKILL) in the middle of the
checkout e-mails and started again, and every e-mail of the run is counted by its
Message-ID: none lost, none twice. SQLite's in-memory test database cannot be shared
with another process: there the test runs the worker's jobs itself, and the kill is not
played.

Web Push in Chromium (issue 19 point 3), the Done-when's last traveller: a member turns
notifications on from the trip page, leaves it, the trip is booked, and the local push
service (sandboxes/push_server.py) receives the "booking confirmed" push, checks our VAPID
signature and decrypts it with the browser's keys.

Headless Chromium has no push service of its own to reach here (it would register with
Google's, offline, and get an endpoint the local service does not serve): the test plays
that part. ``PushManager.prototype.subscribe`` is replaced, before the page loads, by one
that checks the application server key it is given is ours and answers the subscription
the local service made for it (keys made by the test, as a browser makes them). The rest
is the page's own: the opt-in appearing, the permission (granted in the context), the
service worker registered at /sw.js with the root scope, and push.js posting
``subscription.toJSON()`` to the API with its CSRF token.
"""

import collections
import json
import re
import signal
import subprocess
import sys
import time
import uuid
import zoneinfo
from html import unescape

import icalendar
import pytest
from django.conf import settings
from django.utils import translation

from booking.models import Ticket
from core import jobs
from core.l10n import seat_name
from groups.models import Profile
from notices.models import Message, PushSubscription
from notices.sending import messages_send
from payments import services
from payments.models import Payment, Share
from sandboxes.stripe_server import CARD_OK
from tests import factories
from tests.e2e.conftest import facebook_phone
from tests.e2e.test_split_payment import _context, _pay
from tests.live_servers import ROOT, server_env
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401
from tests.pg import on_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# One card per traveller (Visa test numbers the sandbox authorises): each receipt must
# show its payer's own last four digits, never another's.
CARDS = [CARD_OK, "4000056655665556", "4012888888881881"]
MESSAGE_ID = re.compile(r"<message-(\d+)@")


class ProcessWorker:
    """``manage.py worker`` on the test database, as production runs it."""

    def __init__(self, env: dict[str, str], log_path):
        self.env, self.log_path, self.process = env, log_path, None

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop/kill
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--interval", "0.2"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """No goodbye: SIGKILL, wherever it is (mid-SMTP, mid-transaction)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.log.close()

    def turn(self) -> None:
        assert self.process.poll() is None, self.log_path.read_text()[-3000:]


class InlineWorker:
    """SQLite: the worker's jobs run in the test's thread, at quiet moments."""

    names = ("stripe_events", "payment_confirmations", "messages_send")

    def start(self) -> None:
        pass

    stop = start

    def turn(self) -> None:
        for job in jobs.registered():
            if job.name in self.names:
                job.func()


def _wait(condition, worker, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.turn()
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def _kind(mail) -> str:
    return Message.objects.get(pk=int(MESSAGE_ID.match(mail["Message-ID"]).group(1))).kind


def _mails(smtp, person, kind: str) -> list:
    return [m for m in smtp.to(person.email) if _kind(m) == kind]


def _bodies(mail) -> tuple[str, str]:
    text = mail.get_body(("plain",)).get_content()
    return text, unescape(mail.get_body(("html",)).get_content())


@pytest.fixture
def worker(live_server, smtp_server, stripe_sandbox, settings, tmp_path):  # noqa: F811
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "SITE_URL": live_server.url}
    if not on_postgres:
        yield InlineWorker()
        return
    stripe = {name: str(value) for name, value in stripe_sandbox.settings().items()}
    stripe["STRIPE_SANDBOX"] = "1"
    env = server_env(
        tmp_path,
        f"e2e_msgs_{uuid.uuid4().hex[:8]}",
        EMAIL_URL=smtp_server.email_url,
        SITE_URL=live_server.url,
        STRIPE_TIMEOUT_SECONDS="5",
        LOG_LEVEL="INFO",
        **stripe,
    )
    process = ProcessWorker(env, tmp_path / "worker.log")
    process.start()
    yield process
    process.stop()


def test_three_travellers_get_checkout_receipt_and_tickets_by_e_mail_none_lost_or_doubled(
    live_server,
    browser,
    smtp_server,
    stripe_sandbox,  # noqa: F811
    worker,
    screenshots,
):
    from playwright.sync_api import expect

    base = live_server.url
    trip, travellers, departure = factories.checkout_ready_trip(travellers=3)
    olivia, _ana, ben = travellers
    Profile.objects.filter(user=ben).update(preferred_language="en")
    # The train chosen, e-mailed to the three: the worker is up and sending.
    _wait(
        lambda: all(_mails(smtp_server, p, "booking.train_chosen") for p in travellers),
        worker,
        timeout=30,
        what="the train-chosen e-mails",
    )

    # Checkout starts. On PostgreSQL the SMTP server answers slowly and the worker is
    # killed after the first checkout e-mail, in the middle of the second: started
    # again, it sends the two others (after the backoff), and the first never twice.
    if on_postgres:
        smtp_server.rcpt_delay = 1.0
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="cancel_all")

    def started():
        return [m for p in travellers for m in _mails(smtp_server, p, "payments.checkout_started")]

    if on_postgres:
        _wait(started, worker, timeout=30, what="the first checkout e-mail")
        time.sleep(0.3)  # inside the second e-mail's slow RCPT
        worker.kill()
        assert len(started()) == 1
        smtp_server.rcpt_delay = 0.0
        worker.start()
    _wait(lambda: len(started()) == 3, worker, timeout=90, what="the three checkout e-mails")

    shares = {s.traveller_id: s for s in Share.objects.filter(checkout=checkout)}
    for index, person in enumerate(travellers):
        [mail] = _mails(smtp_server, person, "payments.checkout_started")
        text, html = _bodies(mail)
        pay_url = re.search(rf"{re.escape(base)}/pay/[^/\s]+/", text).group(0)
        assert f'href="{pay_url}"' in html

        # The link opens their own pay page, in Chromium, without logging in.
        context, page = _context(browser, base)
        page.goto(pay_url)
        expect(page.locator(".pay-head__who")).to_contain_text(
            Profile.objects.get(user=person).display_name
        )
        expect(page.locator("[data-my-amount]")).to_be_visible()
        if index == 0:
            page.screenshot(path=str(screenshots / "pay-from-e-mail-360.png"), full_page=True)
        expect(_pay(page, CARDS[index])).to_have_attribute("data-kind", "success")
        if index < 2:
            expect(page.locator("[data-pay-done]")).to_be_visible()
            expect(page.locator("[data-pay-card-used]")).to_contain_text(CARDS[index][-4:])
        context.close()

        # Their receipt: the amount, their card's last four digits, and nobody else's.
        [receipt] = _wait(
            lambda p=person: _mails(smtp_server, p, "payments.payment_received"),
            worker,
            timeout=30,
            what=f"traveller {index + 1}'s receipt",
        )
        text, html = _bodies(receipt)
        assert CARDS[index][-4:] in text and CARDS[index][-4:] in html
        assert not any(card[-4:] in text + html for card in CARDS if card != CARDS[index])
        amount = shares[person.pk].amount_cents
        euros = f"{amount // 100}[.,]{amount % 100:02d}"
        assert re.search(rf"{euros}[\xa0\u202f]€|€{euros}", text)  # fr "65,00 €", en "€65.00"

    # The last payment books: each traveller gets their own ticket, QR and calendar.
    confirmations = _wait(
        lambda: (
            [_mails(smtp_server, p, "booking.booking_confirmed") for p in travellers]
            if all(_mails(smtp_server, p, "booking.booking_confirmed") for p in travellers)
            else None
        ),
        worker,
        timeout=60,
        what="the three confirmations",
    )
    codes = {t.traveller_id: t for t in Ticket.objects.select_related("allocation__seat__coach")}
    for person, [confirmed] in zip(travellers, confirmations, strict=True):
        ticket = codes[person.pk]
        text, html = _bodies(confirmed)
        assert ticket.code in text
        assert not any(t.code in text for t in codes.values() if t.traveller_id != person.pk)
        [image] = [p for p in confirmed.walk() if p.get_content_type() == "image/png"]
        assert image["Content-ID"] == f"<qr-{ticket.code}>"
        assert f'src="cid:qr-{ticket.code}"' in html
        assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
        [ics] = [p for p in confirmed.iter_attachments() if p.get_filename() == "trip.ics"]
        [event] = icalendar.Calendar.from_ical(ics.get_content()).walk("VEVENT")
        station = zoneinfo.ZoneInfo(departure.origin.time_zone)
        assert event.decoded("dtstart") == departure.departs_at.astimezone(station)
        assert event.decoded("dtstart").tzinfo.key == departure.origin.time_zone
        seat = ticket.allocation.seat
        with translation.override("en" if person == ben else "fr"):
            assert seat_name(seat.coach.number, seat.number) in str(event["description"])
        assert str(event["url"]) == f"{base}/trips/{trip.pk}/"
    assert "Booked" in confirmations[2][0]["Subject"]  # Ben reads English
    assert "Réservé" in confirmations[0][0]["Subject"]
    assert set(Payment.objects.values_list("card_last4", flat=True)) == {c[-4:] for c in CARDS}

    # Counted by Message-ID: every message of the run arrived, and once.
    received = collections.Counter(m["Message-ID"] for m in smtp_server.messages)
    assert max(received.values()) == 1, received
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(" >")
    sent = {f"<message-{pk}@{domain}>" for pk in Message.objects.values_list("pk", flat=True)}
    assert set(received) == sent
    assert set(Message.objects.values_list("state", flat=True)) == {"sent"}
    assert Message.objects.count() == 3 * 4  # train chosen, checkout, receipt, tickets
    if on_postgres:
        retried = Message.objects.filter(kind="payments.checkout_started", attempts=2)
        assert retried.count() == 2  # the two the killed worker had claimed, not sent


# --- Web Push: a member who turned notifications on and left the page ---

FAKE_PUSH_MANAGER = """
(() => {
  const made = %s;
  const expectedKey = %s;
  let current = null;
  const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const subscription = () => ({
    endpoint: made.endpoint,
    expirationTime: null,
    toJSON: () => made,
    unsubscribe: async () => { current = null; return true; },
  });
  PushManager.prototype.getSubscription = async function () { return current; };
  PushManager.prototype.subscribe = async function (options) {
    const key = b64url(options.applicationServerKey);
    if (!options.userVisibleOnly || key !== expectedKey) {
      throw new DOMException(`unexpected key ${key}`, "InvalidAccessError");
    }
    current = subscription();
    window.__pushSubscribedWith = key;
    return current;
  };
})();
"""


def _phone_as(browser, base: str, user, browser_subscription, *, locale="en-GB"):
    context, page = facebook_phone(browser, base, user, language=locale[:2], timeout_ms=8_000)
    context.grant_permissions(["notifications"], origin=base)
    context.add_init_script(
        FAKE_PUSH_MANAGER
        % (json.dumps(browser_subscription.to_json()), json.dumps(settings.VAPID_PUBLIC_KEY))
    )
    return context, page


def test_a_member_who_turned_push_on_and_left_gets_the_booking_push(
    live_server,
    browser,
    push_server,
    screenshots,
    stripe_sandbox,  # noqa: F811
):
    from playwright.sync_api import expect

    # Ana has chosen her fare and sits with the others: she has done something here.
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    messages_send()  # the train chosen, before she had notifications on
    phone_keys = push_server.subscribe(settings.VAPID_PUBLIC_KEY)
    context, page = _phone_as(browser, live_server.url, ana, phone_keys)
    try:
        page.goto(f"{live_server.url}/trips/{trip.pk}/")
        optin = page.locator("[data-push-optin]")
        expect(optin).to_be_visible()
        optin.scroll_into_view_if_needed()
        optin.screenshot(path=screenshots / "push_optin_en.png")
        optin.locator("[data-push-enable]").click()
        expect(optin).to_have_attribute("data-push-state", "on")
        expect(optin.locator("[data-push-status]")).to_have_text(
            "Notifications are on for this phone."
        )
        # The page's own service worker, at the root scope.
        scope = page.evaluate(
            "navigator.serviceWorker.getRegistration('/').then((r) => r && r.scope)"
        )
        assert scope == f"{live_server.url}/"
        page.goto(f"{live_server.url}/")  # she leaves the trip's page

        [stored] = PushSubscription.objects.filter(user=ana)
        assert stored.endpoint == phone_keys.endpoint and stored.p256dh == phone_keys.p256dh

        booked = _book_and_send(trip, olivia, stripe_sandbox, push_server, phone_keys)
        assert booked["title"] == f"{trip.title} : c’est réservé !"  # her language: French
        assert booked["url"].endswith(f"/trips/{trip.pk}/")
        assert push_server.refused == []

        # What the push service would hand her browser, to the page's service worker
        # (DevTools' deliverPushMessage): it shows the notification, to open the trip.
        shown = _deliver_to_service_worker(context, page, live_server.url, booked)
        assert shown == [[booked["title"], booked["body"], f"{live_server.url}/trips/{trip.pk}/"]]
    finally:
        context.close()


def _book_and_send(trip, olivia, sandbox, push_server, phone_keys) -> dict:
    """Olivia pays for both: the booking is confirmed, the worker sends. Returns the
    booking push the local push service decrypted for Ana's phone."""
    from payments import tasks

    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    services.payment_start(
        checkout_id=checkout.pk,
        payer=olivia,
        share_ids=list(Share.objects.filter(checkout=checkout).values_list("pk", flat=True)),
        payment_method=sandbox.card_payment_method(),
    )
    tasks.checkout_confirmations()
    messages_send()
    booked = [
        received.payload
        for received in push_server.to(phone_keys.endpoint)
        if received.payload["tag"].startswith("booking.booking_confirmed")
    ]
    assert len(booked) == 1, push_server.received
    return booked[0]


def _deliver_to_service_worker(context, page, base: str, payload: dict) -> list:
    """Hands the payload to the page's service worker as the push service would, and returns
    the notifications it shows. Chromium starts a stopped worker for the push but drops the
    message if the worker is not running in time (seen on a loaded CI machine), so it is
    handed over again, up to four times, until a notification shows: the same tag
    replaces the same notification, so a second delivery never makes a second one."""
    cdp = context.new_cdp_session(page)
    registrations = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    for _ in range(50):
        ours = [r for r in registrations if r["scopeURL"] == f"{base}/"]
        if ours:
            break
        page.wait_for_timeout(100)
    [registration] = ours[:1]
    shown = []
    for _attempt in range(4):
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": base,
                "registrationId": registration["registrationId"],
                "data": json.dumps(payload),
            },
        )
        shown = page.evaluate(
            """async () => {
              const registration = await navigator.serviceWorker.ready;
              for (let i = 0; i < 40; i += 1) {
                const shown = await registration.getNotifications();
                if (shown.length) return shown.map((n) => [n.title, n.body, n.data.url]);
                await new Promise((resolve) => setTimeout(resolve, 100));
              }
              return [];
            }"""
        )
        if shown:
            break
    return shown


def test_the_offer_waits_until_the_person_does_something_on_the_plan(
    live_server, browser, push_server, screenshots
):
    from playwright.sync_api import expect

    trip, (_olivia, ana, _ben), _departures = factories.planned_trip(travellers=3)
    context, page = _phone_as(
        browser,
        live_server.url,
        ana,
        push_server.subscribe(settings.VAPID_PUBLIC_KEY),
        locale="fr-FR",
    )
    try:
        page.goto(f"{live_server.url}/trips/{trip.pk}/")
        optin = page.locator("[data-push-optin]")
        expect(optin).to_be_attached()
        expect(optin).to_be_hidden()
        page.locator("[data-vote]").first.click()  # she votes
        expect(optin).to_be_visible()
        expect(optin.locator("[data-push-enable]")).to_have_text("Activer les notifications")
        optin.scroll_into_view_if_needed()
        optin.screenshot(path=screenshots / "push_optin_fr.png")
        # And on her next visit it is offered at once.
        page.reload()
        expect(page.locator("[data-push-optin]")).to_be_visible()
    finally:
        context.close()
