"""Preferences and the one-click unsubscribe: essential messages (payments, tickets,
refunds) always go; the plan's news (the train chosen) follows the person's choice,
made on the account page or by the List-Unsubscribe link (RFC 8058)."""

import pytest
from django.test import Client

from booking import plan
from groups.services import invitation_accept, invitation_create
from notices.models import Message
from notices.selectors import unsubscribe_token
from notices.sending import messages_send
from notices.services import message_queue
from tests import factories

pytestmark = pytest.mark.django_db


def settle(trip, organiser, departure):
    plan.poll_settle(trip_id=trip.pk, by=organiser, leg="outbound", departure_id=departure.pk)


def test_the_train_chosen_mail_has_a_one_click_unsubscribe_that_stops_the_news(
    smtp_server, settings
):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "SITE_URL": "http://testserver"}
    trip, (olivia, ana, _ben), departures = factories.planned_trip(travellers=3)
    settle(trip, olivia, departures[0])
    assert messages_send() == 3
    [news] = smtp_server.to(ana.email)
    assert departures[0].service_number in news.get_body(("plain",)).get_content()
    assert news["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = news["List-Unsubscribe"].strip("<>")
    assert link.startswith("http://testserver/messages/unsubscribe/")
    html = news.get_body(("html",)).get_content()
    assert link.replace("http://testserver", "") in html.replace("&amp;", "&")

    browser = Client(enforce_csrf_checks=True)  # the mail provider has no CSRF token
    path = link.removeprefix("http://testserver")
    assert browser.get(path).status_code == 200  # a scanner opening it changes nothing
    assert b"data-unsubscribed" not in browser.get(path).content
    response = browser.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and b"data-unsubscribed" in response.content

    # Her next news is not even queued; the others' is.
    trip2, (olivia2, *_), departures2 = factories.planned_trip(travellers=1)
    _invitation, token = invitation_create(group_id=trip2.group_id, by=olivia2)
    invitation_accept(token=token, user=ana)
    Message.objects.all().delete()
    settle(trip2, olivia2, departures2[0])
    assert set(Message.objects.values_list("recipient_id", flat=True)) == {olivia2.pk}


def test_a_forged_unsubscribe_link_is_not_found(client):
    ana = factories.user()
    token = unsubscribe_token(user_id=ana.pk)
    assert client.post(f"/messages/unsubscribe/{token}x/").status_code == 404


def test_opting_out_on_the_account_page_drops_queued_news_but_keeps_essentials(client, smtp_server):
    trip, (olivia, ana, _ben), departures = factories.planned_trip(travellers=3)
    settle(trip, olivia, departures[0])
    client.force_login(ana)
    assert b'name="email_updates" checked' in client.get("/account/").content
    assert client.post("/account/messages/", {}).status_code == 302
    assert b'name="email_updates" checked' not in client.get("/account/").content
    assert dict(Message.objects.filter(recipient=ana).values_list("kind", "state")) == {
        "booking.train_chosen": "dropped"
    }
    assert messages_send() == 2
    assert smtp_server.to(ana.email) == []
    # Essential kinds are queued whatever the choice.
    message_queue(kind="booking.ticket_cancelled", object_id=1, recipient_ids=[ana.pk])
    assert Message.objects.filter(recipient=ana, kind="booking.ticket_cancelled").exists()
    client.post("/account/messages/", {"email_updates": "on"})
    assert b'name="email_updates" checked' in client.get("/account/").content
