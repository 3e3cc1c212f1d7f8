"""The e-mails of a checkout, through the outbox to a real SMTP server (aiosmtpd), read
back as MIME: checkout started (my share, my own pay link, the deadline, the policy),
payment received, booking confirmed (my tickets, their QR codes inline, a calendar
invitation), ticket cancelled with its refund, checkout cancelled. Each traveller's
e-mails carry their own money only, in their language."""

import datetime as dt
import re
import zoneinfo
from html import unescape

import icalendar
import pytest

from booking.models import Ticket
from groups.models import Profile
from notices.models import Message
from notices.sending import messages_send
from payments import deadlines, selectors, services
from payments.models import Share
from sandboxes.stripe_server import CARD_OK
from tests import factories
from tests.payments.conftest import tasks_run

pytestmark = pytest.mark.django_db

CARD_OTHER = "4000056655665556"  # another Visa, authorised as CARD_OK is

FLEX = {"fare_class_code": "flex-2", "passenger_type_code": "adult", "age": 35}
STANDARD = {"fare_class_code": "standard-2", "passenger_type_code": "adult", "age": 35}


@pytest.fixture
def site(settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "SITE_URL": "https://sidebyside.example"}


def trio(smtp_server):
    """Olivia (Flex), Ana (Standard), Ben (Flex, in English), their train chosen and
    its news e-mailed already (the mailbox is empty again)."""
    trip, people, departure = factories.checkout_ready_trip(
        travellers=3, fares={0: FLEX, 1: STANDARD, 2: FLEX}
    )
    Profile.objects.filter(user=people[2]).update(preferred_language="en")
    assert messages_send() == 3  # the train chosen
    smtp_server.clear()
    return trip, people, departure


def euros(cents: int) -> str:
    # French, with the currency's sign (issue 18 point 7: never a code or raw cents).
    return f"{cents // 100},{cents % 100:02d}\N{NO-BREAK SPACE}€"


def bodies(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, unescape(html)


def pay(sandbox, checkout, payer, users, card=CARD_OK):
    started = services.payment_start(
        checkout_id=checkout.pk,
        payer=payer,
        share_ids=list(
            Share.objects.filter(checkout=checkout, traveller__in=users).values_list(
                "pk", flat=True
            )
        ),
        payment_method=sandbox.card_payment_method(card),
    )
    tasks_run()  # the worker: a queued confirmation runs
    return started


def test_each_traveller_gets_their_share_and_own_pay_link(
    stripe_sandbox, smtp_server, site, client
):
    trip, (olivia, ana, ben), _departure = trio(smtp_server)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="cancel_all")
    shares = {s.traveller_id: s for s in Share.objects.filter(checkout=checkout)}
    assert shares[olivia.pk].amount_cents != shares[ana.pk].amount_cents
    assert messages_send() == 3

    [mine] = smtp_server.to(ana.email)
    assert trip.title in mine["Subject"] and "payer votre part" in mine["Subject"]
    text, html = bodies(mine)
    assert euros(shares[ana.pk].amount_cents) in text
    assert euros(shares[ana.pk].amount_cents) in html
    assert euros(shares[olivia.pk].amount_cents) not in text + html  # never another's price
    assert "personne n’est débité" in text.lower() or "personne n'est débité" in text.lower()
    url = re.search(r"https://sidebyside\.example(/pay/[^/\s]+/)", text).group(1)
    link = selectors.pay_link_read(token=url.split("/")[2])
    assert (link.checkout, link.payer) == (checkout, ana)
    assert client.get(url).status_code == 200  # the link opens her pay page
    # Readable on a phone and in dark mode: styles inlined, media queries kept.
    assert 'style="' in html and "prefers-color-scheme: dark" in html
    assert "max-width: 400px" in html

    [english] = smtp_server.to(ben.email)
    assert "Time to pay your share" in english["Subject"]
    assert "whole booking is cancelled and nobody is charged" in bodies(english)[0]


def test_a_payment_gets_a_receipt_and_the_booking_each_traveller_s_own_tickets(
    stripe_sandbox, smtp_server, site, client
):
    trip, (olivia, ana, ben), departure = trio(smtp_server)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    messages_send()
    smtp_server.clear()

    payment = pay(stripe_sandbox, checkout, ana, [ana]).payment
    assert messages_send() == 1
    [receipt] = smtp_server.to(ana.email)
    text, _html = bodies(receipt)
    assert euros(payment.amount_cents) in text
    assert "Personne n’est débité tant que tout le monde n’a pas payé" in text
    # The card she paid with, by its last four digits (Stripe's payment method).
    payment.refresh_from_db()
    assert (payment.card_brand, payment.card_last4) == ("visa", CARD_OK[-4:])
    assert f"Carte : Visa se terminant par {CARD_OK[-4:]}" in text
    assert f"Visa se terminant par {CARD_OK[-4:]}" in _html

    def pay_page(person) -> str:
        token = services.pay_link_token(checkout=checkout, payer=person)
        return client.get(f"/pay/{token}/").content.decode()

    assert f"se terminant par {CARD_OK[-4:]}" in pay_page(ana)  # her own card, to her only
    assert "se terminant par" not in pay_page(olivia)

    pay(stripe_sandbox, checkout, olivia, [olivia, ben], card=CARD_OTHER)
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    assert messages_send() == 4  # Olivia's receipt, three confirmations
    assert len(smtp_server.to(ben.email)) == 1  # Olivia paid for him: no receipt to him
    [olivia_receipt] = [m for m in smtp_server.to(olivia.email) if "Réservé" not in m["Subject"]]
    assert CARD_OTHER[-4:] in bodies(olivia_receipt)[0]
    assert CARD_OK[-4:] not in bodies(olivia_receipt)[0]  # never Ana's card

    # Each pay page shows its payer's own card; Ben's, paid by Olivia, shows no card.
    assert f"se terminant par {CARD_OK[-4:]}" in pay_page(ana)
    assert f"se terminant par {CARD_OTHER[-4:]}" in pay_page(olivia)
    ben_page = pay_page(ben)
    assert "se terminant par" not in ben_page and CARD_OTHER[-4:] not in ben_page

    [confirmed] = [m for m in smtp_server.to(ben.email) if "Booked" in m["Subject"]]
    [ticket] = Ticket.objects.filter(traveller=ben).select_related("allocation__seat__coach")
    text, html = bodies(confirmed)
    seat = ticket.allocation.seat
    assert f"Coach {seat.coach.number}, seat {seat.number}" in text
    assert ticket.code in text
    [image] = [p for p in confirmed.walk() if p.get_content_type() == "image/png"]
    assert f'src="cid:qr-{ticket.code}"' in html
    assert image["Content-ID"] == f"<qr-{ticket.code}>"
    assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    [ics] = [p for p in confirmed.iter_attachments() if p.get_filename() == "trip.ics"]
    calendar = icalendar.Calendar.from_ical(ics.get_content())
    [event] = calendar.walk("VEVENT")
    paris = zoneinfo.ZoneInfo(departure.origin.time_zone)
    assert event.decoded("dtstart") == departure.departs_at.astimezone(paris)
    assert event.decoded("dtstart").tzinfo.key == departure.origin.time_zone
    assert f"Coach {seat.coach.number}, seat {seat.number}" in str(event["description"])
    assert str(event["url"]) == f"https://sidebyside.example/trips/{trip.pk}/"
    # Nobody's confirmation carries another's tickets.
    for person in (olivia, ana):
        [theirs] = [m for m in smtp_server.to(person.email) if "Réservé" in m["Subject"]]
        assert ticket.code not in bodies(theirs)[0]


def test_a_cancelled_ticket_tells_its_refund(stripe_sandbox, smtp_server, site):
    trip, (olivia, ana, ben), _departure = trio(smtp_server)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    pay(stripe_sandbox, checkout, olivia, [olivia, ana, ben])
    ticket = Ticket.objects.get(traveller=olivia)
    messages_send()
    smtp_server.clear()
    services.ticket_cancel(ticket_id=ticket.pk, by=olivia)
    ticket.refresh_from_db()
    assert ticket.refunded_cents > 0
    assert messages_send() == 1
    [cancelled] = smtp_server.to(olivia.email)
    assert euros(ticket.refunded_cents) in bodies(cancelled)[0]


def test_a_cancelled_checkout_says_nobody_was_charged_and_drops_the_unsent(
    stripe_sandbox, smtp_server, site
):
    trip, (olivia, ana, ben), _departure = trio(smtp_server)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="cancel_all")
    services.checkout_deadline(
        checkout_id=checkout.pk, now=checkout.deadline_at + dt.timedelta(seconds=1)
    )
    assert messages_send() == 3
    for person in (olivia, ana):
        [only] = smtp_server.to(person.email)
        assert "Personne n’a été débité" in bodies(only)[0]
    assert "Nobody was charged" in bodies(smtp_server.to(ben.email)[0])[0]
    started = Message.objects.filter(kind="payments.checkout_started")
    assert set(started.values_list("state", flat=True)) == {"dropped"}


def test_a_reminder_goes_through_the_outbox_unless_paid_meanwhile(
    stripe_sandbox, smtp_server, site
):
    trip, (olivia, ana, ben), _departure = trio(smtp_server)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, deadline_hours=24)
    messages_send()
    smtp_server.clear()
    halfway = checkout.created_at + dt.timedelta(hours=12, seconds=1)
    assert deadlines.payment_reminders(now=halfway) == 3
    pay(stripe_sandbox, checkout, ana, [ana])  # before the reminder went
    assert messages_send(now=halfway) == 3  # Ana's receipt, Olivia's and Ben's reminders
    [reminder] = smtp_server.to(ben.email)
    assert "Pay your share" in reminder["Subject"]
    assert 'class="button"' in bodies(reminder)[1]
    assert [m["Subject"] for m in smtp_server.to(ana.email)] == [
        f"[Sidebyside] Paiement reçu pour {trip.title}"
    ]
    states = Message.objects.filter(kind="payments.reminder_1").values_list("state", flat=True)
    assert sorted(states) == ["dropped", "sent", "sent"]


def test_a_traveller_dropped_at_the_deadline_is_told_they_are_not_travelling(
    stripe_sandbox, smtp_server, site
):
    """Issue 23: the others go ahead; the one who did not pay learns it by e-mail, in
    their language, and nobody else gets that message."""
    trip, (olivia, ana, ben), _departure = trio(smtp_server)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
    pay(stripe_sandbox, checkout, olivia, [olivia, ana])
    messages_send()
    smtp_server.clear()
    services.checkout_deadline(
        checkout_id=checkout.pk, now=checkout.deadline_at + dt.timedelta(seconds=1)
    )
    tasks_run()
    messages_send()
    dropped = Message.objects.filter(kind="payments.traveller_dropped")
    assert list(dropped.values_list("recipient_id", flat=True)) == [ben.pk]
    [told] = [m for m in smtp_server.to(ben.email) if "not travelling" in m["Subject"]]
    text, _html = bodies(told)
    assert "you are not travelling" in text and "nothing was charged to you" in text
    assert not [m for m in smtp_server.to(ana.email) if "not travelling" in m["Subject"]]
