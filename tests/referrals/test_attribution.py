"""Attribution (issue 6 §4): sign-ups, trips created and bookings go to the last share the
person clicked within REFERRALS["ATTRIBUTION_DAYS"]; never to one's own link or to a trip
one belongs to; without consent only within the session; a refund reverses revenue."""

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from booking import signals
from booking.models import Ticket
from referrals.models import Click, Conversion, VisitorUser
from referrals.services import share_link_get_or_create
from tests import factories
from tests.referrals.booked import book
from tests.referrals.helpers import browser

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """booking announces trips and bookings after commit: run those callbacks."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


def shared_link(channel: str = "facebook"):
    trip = factories.trip(organiser=factories.user("Alice Sharer"))
    return share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel=channel)


def consent(client, decision: str = "granted") -> None:
    assert client.post(reverse("referral_consent"), {"decision": decision}).status_code == 302


def click(client, link) -> None:
    assert client.get(reverse("referral_landing", args=[link.code])).status_code == 200


def signup(client, email: str = "newcomer@example.test"):
    """allauth's sign-up by e-mail code, as a browser does it."""
    response = client.post(reverse("account_signup"), {"name": "New Comer", "email": email})
    assert response.status_code == 302
    code = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{4})\s*$", mail.outbox[-1].body, re.M).group(1)
    response = client.post(reverse("account_email_verification_sent"), {"code": code})
    assert response.status_code == 302
    return get_user_model().objects.get(email=email)


def new_trip(organiser, on_commit, **kwargs):
    with on_commit():
        return factories.trip(organiser=organiser, days_ahead=3, **kwargs)


def test_a_visitor_who_signs_up_plans_and_books_is_credited_to_the_share(on_commit):
    link = shared_link()
    visitor = browser()
    consent(visitor)
    click(visitor, link)

    newcomer = signup(visitor)
    signed_up = Conversion.objects.get(kind="signup")
    assert (signed_up.link, signed_up.user, signed_up.channel) == (link, newcomer, "facebook")
    assert signed_up.visitor_id == Click.objects.get(link=link).visitor_id

    trip = new_trip(newcomer, on_commit)
    created = Conversion.objects.get(kind="trip_created")
    assert (created.link, created.user, created.trip) == (link, newcomer, trip)

    friend = factories.member(trip, "Friend Without Share")
    booking = book(trip, [newcomer, friend], on_commit)
    booked = Conversion.objects.get(kind="booking")
    # The newcomer came through the share; their friend did not: only their tickets count.
    assert (booked.link, booked.user, booked.booking) == (link, newcomer, booking)
    assert (booked.amount_cents, booked.currency, booked.reversed_cents) == (4500, "EUR", 0)


def test_a_repeated_booking_signal_credits_nothing_twice(on_commit):
    link = shared_link()
    visitor = browser()
    consent(visitor)
    click(visitor, link)
    newcomer = signup(visitor)
    trip = new_trip(newcomer, on_commit)
    booking = book(trip, [newcomer], on_commit)
    signals.booking_confirmed.send(
        sender=None,
        booking_id=booking.pk,
        trip_id=trip.pk,
        traveller_ids=[newcomer.pk],
        amount_cents=4500,
        currency="EUR",
    )
    assert Conversion.objects.filter(kind="booking").count() == 1


def test_a_click_older_than_the_window_is_not_credited(on_commit, settings):
    settings.REFERRALS = settings.REFERRALS | {"ATTRIBUTION_DAYS": 30}
    link = shared_link()
    visitor = browser()
    consent(visitor)
    click(visitor, link)
    Click.objects.update(at=timezone.now() - dt.timedelta(days=31))

    newcomer = signup(visitor)
    new_trip(newcomer, on_commit)

    assert not Conversion.objects.exists()
    # The browser is still known: a fresh click would count (the window, not the link).
    # 31 days on, the cookie of the first visit (``sbs_visit``) is long expired.
    del visitor.cookies["sbs_visit"]
    click(visitor, link)
    new_trip(newcomer, on_commit)
    assert Conversion.objects.filter(kind="trip_created").count() == 1


def test_the_window_is_a_setting(on_commit, settings):
    settings.REFERRALS = settings.REFERRALS | {"ATTRIBUTION_DAYS": 60}
    link = shared_link()
    visitor = browser()
    consent(visitor)
    click(visitor, link)
    Click.objects.update(at=timezone.now() - dt.timedelta(days=45))
    signup(visitor)
    assert Conversion.objects.filter(kind="signup").count() == 1


def test_the_sharer_clicking_their_own_link_is_not_credited(on_commit):
    link = shared_link()
    alice = link.sharer
    own = browser()
    consent(own)
    own.force_login(alice)
    click(own, link)  # logged in: this browser is now known to be Alice's
    assert VisitorUser.objects.filter(user=alice).count() == 1

    new_trip(alice, on_commit)

    assert not Conversion.objects.exists()


def test_a_member_of_the_shared_trip_is_not_credited(on_commit):
    link = shared_link()
    bob = factories.member(link.trip, "Bob Member")
    bobs = browser()
    consent(bobs)
    bobs.force_login(bob)
    click(bobs, link)

    new_trip(bob, on_commit)
    book(link.trip, [link.sharer, bob], on_commit)

    assert not Conversion.objects.exists()


def test_an_excluded_click_leaves_an_earlier_friends_click_to_win(on_commit):
    friends_link = shared_link("whatsapp")
    alice_trip = factories.trip(organiser=factories.user("Alice Again"))
    own_link = share_link_get_or_create(
        trip_id=alice_trip.pk, sharer=alice_trip.created_by, channel="x"
    )
    alice = own_link.sharer
    browser_ = browser()
    consent(browser_)
    browser_.force_login(alice)
    click(browser_, friends_link)
    click(browser_, own_link)

    new_trip(alice, on_commit)

    assert Conversion.objects.get().link == friends_link


def test_without_consent_a_signup_in_the_same_session_is_credited(on_commit):
    link = shared_link()
    visitor = browser()
    consent(visitor, "refused")
    click(visitor, link)
    assert "sbs_vid" not in visitor.cookies or not visitor.cookies["sbs_vid"].value

    newcomer = signup(visitor)
    new_trip(newcomer, on_commit)

    assert sorted(Conversion.objects.values_list("kind", flat=True)) == [
        "signup",
        "trip_created",
    ]


def test_without_consent_a_new_session_is_not_credited(on_commit):
    link = shared_link()
    first = browser()
    consent(first, "refused")
    click(first, link)

    later = browser()  # the same person another day: no cookie, a new session
    consent(later, "refused")
    newcomer = signup(later)
    new_trip(newcomer, on_commit)

    assert not Conversion.objects.exists()


def test_without_consent_the_credit_ends_with_the_session_at_logout(on_commit):
    link = shared_link()
    visitor = browser()
    consent(visitor, "refused")
    click(visitor, link)
    newcomer = signup(visitor)
    assert visitor.post(reverse("account_logout")).status_code == 302

    new_trip(newcomer, on_commit)  # later, in another session

    assert list(Conversion.objects.values_list("kind", flat=True)) == ["signup"]


def test_with_consent_the_credit_outlives_the_session(on_commit):
    link = shared_link()
    visitor = browser()
    consent(visitor)
    click(visitor, link)
    newcomer = signup(visitor)
    assert visitor.post(reverse("account_logout")).status_code == 302

    new_trip(newcomer, on_commit)

    assert Conversion.objects.filter(kind="trip_created").count() == 1


def test_the_last_of_two_shares_clicked_wins(on_commit):
    first, second = shared_link("facebook"), shared_link("whatsapp")
    visitor = browser()
    consent(visitor)
    click(visitor, first)
    click(visitor, second)

    newcomer = signup(visitor)
    new_trip(newcomer, on_commit)

    assert set(Conversion.objects.values_list("link", flat=True)) == {second.pk}


def test_previews_and_flagged_clicks_are_never_credited(on_commit):
    link = shared_link()
    visitor = browser()
    consent(visitor)
    click(visitor, link)
    Click.objects.update(flagged=True)

    signup(visitor)

    assert not Conversion.objects.exists()


def test_a_refund_reverses_the_revenue_it_carried_and_never_more(on_commit):
    link = shared_link()
    visitor = browser()
    consent(visitor)
    click(visitor, link)
    newcomer = signup(visitor)
    trip = new_trip(newcomer, on_commit)
    booking = book(trip, [newcomer], on_commit)
    ticket = Ticket.objects.get(booking=booking, traveller=newcomer)

    def refunded(cents: int):
        # What payments does: the ticket's refund is recorded, then announced.
        Ticket.objects.filter(pk=ticket.pk).update(refunded_cents=cents)
        signals.ticket_refunded.send(
            sender=Ticket,
            booking_id=booking.pk,
            ticket_id=ticket.pk,
            traveller_id=newcomer.pk,
            refunded_cents=cents,
            currency="EUR",
        )
        return Conversion.objects.get(kind="booking").reversed_cents

    assert refunded(4000) == 4000
    # The same refund announced again changes nothing.
    Ticket.objects.filter(pk=ticket.pk).update(refunded_cents=4000)
    assert refunded(4000) == 4000
    # Never more than the amount it carried, never back down.
    assert refunded(4500) == 4500
    Ticket.objects.filter(pk=ticket.pk).update(refunded_cents=0)
    signals.ticket_refunded.send(
        sender=Ticket, booking_id=booking.pk, ticket_id=ticket.pk, traveller_id=newcomer.pk
    )
    assert Conversion.objects.get(kind="booking").reversed_cents == 4500


def test_a_refund_of_a_traveller_who_came_on_their_own_changes_nothing(on_commit):
    link = shared_link()
    visitor = browser()
    consent(visitor)
    click(visitor, link)
    newcomer = signup(visitor)
    trip = new_trip(newcomer, on_commit)
    friend = factories.member(trip, "Friend On Their Own")
    booking = book(trip, [newcomer, friend], on_commit)
    ticket = Ticket.objects.get(booking=booking, traveller=friend)
    Ticket.objects.filter(pk=ticket.pk).update(refunded_cents=5500)

    signals.ticket_refunded.send(
        sender=Ticket, booking_id=booking.pk, ticket_id=ticket.pk, traveller_id=friend.pk
    )

    assert Conversion.objects.get(kind="booking").reversed_cents == 0
