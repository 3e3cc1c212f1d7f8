"""Web Push on the outbox (notices/push.py): a person turns notifications on through the
API; the plan's moments (train chosen, checkout started, a friend paid, booking
confirmed) are posted to the local push service (sandboxes/push_server.py), which checks
our VAPID signature and decrypts them with the browser's keys, in the person's language;
a subscription answered 410 is removed, a 5xx is retried, someone on the trip's live page
is not pushed, nothing is pushed twice, and a deleted account leaves no subscription."""

import datetime as dt
import io
import json
import zoneinfo

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from booking import plan
from booking.models import SeatAllocation, TripPresence
from core.install_secret import vapid_public_key_of
from core.l10n import format_moment
from groups.account_services import account_delete
from groups.exports import account_export
from groups.models import Profile
from notices import sending
from notices.models import Message, PushSubscription
from notices.services import message_queue
from payments import services as payment_services
from payments.models import Share
from tests import factories
from tests.payments.conftest import (  # noqa: F401 - fixtures
    stripe_sandbox,
    stripe_sandbox_process,
    tasks_run,
)
from tests.push import browser_subscribe

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/api/push/subscribe/"
UNSUBSCRIBE = "/api/push/unsubscribe/"


def logged_in(user) -> Client:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/")  # the CSRF cookie, as the trip page sets it
    return browser


def post(browser: Client, path: str, body) -> object:
    return browser.post(
        path,
        json.dumps(body),
        content_type="application/json",
        headers={"X-CSRFToken": browser.cookies["csrftoken"].value},
    )


def pushes(push_server, browser) -> list[dict]:
    return [received.payload for received in push_server.to(browser.endpoint)]


def settle(trip, organiser, departure):
    plan.poll_settle(trip_id=trip.pk, by=organiser, leg="outbound", departure_id=departure.pk)


# --- The API ------------------------------------------------------------------------------


def test_turning_push_on_and_off_through_the_api(push_server, settings):
    ana = factories.user()
    browser = push_server.subscribe(settings.VAPID_PUBLIC_KEY)
    client = logged_in(ana)

    response = post(client, SUBSCRIBE, browser.to_json())
    assert response.status_code == 201, response.content
    assert response.json()["endpoint"] == browser.endpoint
    again = post(client, SUBSCRIBE, browser.to_json())  # the page posts it on each visit
    assert again.status_code == 201
    [stored] = PushSubscription.objects.all()
    assert (stored.user_id, stored.p256dh) == (ana.pk, browser.p256dh)

    assert post(client, UNSUBSCRIBE, {"endpoint": browser.endpoint}).status_code == 204
    assert not PushSubscription.objects.exists()
    assert post(client, UNSUBSCRIBE, {"endpoint": browser.endpoint}).status_code == 204


def test_a_shared_browser_belongs_to_whoever_subscribed_it_last(push_server, settings):
    ana, ben = factories.user(), factories.user()
    browser = push_server.subscribe(settings.VAPID_PUBLIC_KEY)
    assert post(logged_in(ana), SUBSCRIBE, browser.to_json()).status_code == 201
    assert post(logged_in(ben), SUBSCRIBE, browser.to_json()).status_code == 201
    assert list(PushSubscription.objects.values_list("user_id", flat=True)) == [ben.pk]
    # Ana cannot turn Ben's off.
    assert post(logged_in(ana), UNSUBSCRIBE, {"endpoint": browser.endpoint}).status_code == 204
    assert PushSubscription.objects.count() == 1


def test_bad_subscriptions_are_refused_with_a_clear_error_and_nothing_stored(push_server, settings):
    ana = factories.user()
    good = push_server.subscribe(settings.VAPID_PUBLIC_KEY).to_json()
    client = logged_in(ana)

    def with_(**changes):
        body = json.loads(json.dumps(good))
        keys = changes.pop("keys", {})
        body.update(changes)
        body["keys"].update(keys)
        return body

    cases = {
        "endpoint": [
            with_(endpoint="https://evil.example/push/1"),  # not a push service
            with_(endpoint="http://10.0.0.8/push/1"),  # not loopback, not https
            with_(endpoint="ftp://127.0.0.1/push"),
            with_(endpoint="https://user:pw@fcm.googleapis.com/x"),
            with_(endpoint="https://fcm.googleapis.com/" + "a" * 1100),  # too long
            with_(endpoint=""),
        ],
        "keys.p256dh": [
            with_(keys={"p256dh": "not base64!"}),
            with_(keys={"p256dh": "BAAA"}),  # not a point on P-256
            with_(keys={"p256dh": "B" * 120}),
        ],
        "keys.auth": [with_(keys={"auth": "c2hvcnQ"}), with_(keys={"auth": "?" * 22})],
        "keys": [{"endpoint": good["endpoint"]}],
    }
    for field, bodies in cases.items():
        for body in bodies:
            response = post(client, SUBSCRIBE, body)
            assert response.status_code == 400, body
            error = response.json()["error"]
            assert error["code"] == "invalid" and field in error["fields"], (body, error)
            assert error["message"]
    assert post(client, SUBSCRIBE, ["a list"]).status_code == 400
    assert not PushSubscription.objects.exists()

    # Not logged in, or no CSRF token: refused too.
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post(SUBSCRIBE, good, content_type="application/json").status_code == 403
    no_token = Client(enforce_csrf_checks=True)
    no_token.force_login(ana)
    assert no_token.post(SUBSCRIBE, good, content_type="application/json").status_code == 403
    assert not PushSubscription.objects.exists()


def test_outside_debug_only_known_push_services_over_https_are_accepted(settings):
    from notices.push import endpoint_refusal

    settings.WEB_PUSH_ALLOW_LOOPBACK = False  # as in production (DEBUG off)
    assert endpoint_refusal("http://127.0.0.1:9/push/x") == "not https"
    assert endpoint_refusal("https://127.0.0.1/push/x") == "not a known push service"
    assert endpoint_refusal("https://fcm.googleapis.com/fcm/send/abc") is None
    assert endpoint_refusal("https://web.push.apple.com/QGuQ") is None
    assert endpoint_refusal("https://evilpush.apple.com.example/x") == "not a known push service"
    settings.WEB_PUSH_ALLOW_LOOPBACK = True
    assert endpoint_refusal("http://127.0.0.1:9/push/x") is None
    assert endpoint_refusal("http://localhost:9/push/x") is None


def test_without_vapid_keys_no_push_is_offered_or_queued(push_server, settings):
    trip, (olivia, ana, _ben), departures = factories.planned_trip(travellers=3)
    browser_subscribe(push_server, ana)
    settings.VAPID_PRIVATE_KEY = ""
    client = logged_in(ana)
    body = push_server.subscribe(settings.VAPID_PUBLIC_KEY).to_json()
    assert post(client, SUBSCRIBE, body).status_code == 404
    assert b"data-push-optin" not in client.get(f"/trips/{trip.pk}/").content
    settle(trip, olivia, departures[0])
    assert set(Message.objects.values_list("channel", flat=True)) == {"email"}


# --- Sending ------------------------------------------------------------------------------


def test_the_train_chosen_is_pushed_decrypted_in_each_ones_language(push_server):
    trip, (olivia, ana, ben), departures = factories.planned_trip(travellers=3)
    Profile.objects.filter(user=ben).update(preferred_language="en")
    ana_phone, ben_phone = browser_subscribe(push_server, ana), browser_subscribe(push_server, ben)

    settle(trip, olivia, departures[0])
    pushed = Message.objects.filter(channel="push")
    assert sorted(pushed.values_list("recipient_id", flat=True)) == sorted([ana.pk, ben.pk])
    assert sending.messages_send() == 5  # three e-mails, two pushes

    [french] = pushes(push_server, ana_phone)
    [english] = pushes(push_server, ben_phone)
    service = departures[0].service_number
    assert french["title"] == f"{trip.title} : le train est choisi"
    assert service in french["body"] and "Choisissez votre place" in french["body"]
    assert english["title"] == f"{trip.title}: the train is chosen"
    assert service in english["body"] and "Pick your seat" in english["body"]
    # The train's day and time as each language writes them (core/l10n.py), at the station.
    departs = departures[0].departs_at.astimezone(zoneinfo.ZoneInfo(departures[0].origin.time_zone))
    assert format_moment(departs, year=True, language="en") in english["body"]
    assert format_moment(departs, year=True, language="fr") in french["body"]
    assert english["url"].endswith(f"/trips/{trip.pk}/")
    assert english["tag"] == f"booking.train_chosen-{trip.legs.get().pk}"
    assert push_server.refused == []
    # Signed for the push service's origin, kept for a while, replaceable.
    [received] = push_server.to(ana_phone.endpoint)
    assert received.headers["topic"] == f"m{pushed.get(recipient=ana).pk}"
    assert int(received.headers["ttl"]) > 0
    assert received.headers["authorization"].startswith("vapid t=")
    assert set(pushed.values_list("state", flat=True)) == {"sent"}
    assert all(s.last_success_at for s in PushSubscription.objects.all())


def test_each_browser_of_a_person_gets_the_push(push_server):
    trip, (olivia, ana, _ben), departures = factories.planned_trip(travellers=3)
    phone, laptop = browser_subscribe(push_server, ana), browser_subscribe(push_server, ana)
    settle(trip, olivia, departures[0])
    sending.messages_send()
    assert len(pushes(push_server, phone)) == len(pushes(push_server, laptop)) == 1


def test_a_subscription_answered_410_is_removed_and_the_others_still_go(push_server):
    trip, (olivia, ana, ben), departures = factories.planned_trip(travellers=3)
    gone = browser_subscribe(push_server, ana)
    ben_phone = browser_subscribe(push_server, ben)
    push_server.answer(gone.endpoint, 410)

    settle(trip, olivia, departures[0])
    sending.messages_send()
    assert not PushSubscription.objects.filter(user=ana).exists()
    ana_push = Message.objects.get(channel="push", recipient=ana)
    assert ana_push.state == "failed" and "410" in ana_push.last_error
    assert len(pushes(push_server, ben_phone)) == 1
    assert Message.objects.get(channel="push", recipient=ben).state == "sent"


def test_a_subscription_answered_404_is_removed_but_another_browser_still_gets_it(
    push_server,
):
    trip, (olivia, ana, _ben), departures = factories.planned_trip(travellers=3)
    gone, phone = browser_subscribe(push_server, ana), browser_subscribe(push_server, ana)
    push_server.answer(gone.endpoint, 404)
    settle(trip, olivia, departures[0])
    sending.messages_send()
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [phone.endpoint]
    assert Message.objects.get(channel="push", recipient=ana).state == "sent"


def test_notifications_turned_off_before_the_push_went_drop_it(push_server, settings):
    trip, (olivia, ana, _ben), departures = factories.planned_trip(travellers=3)
    phone = browser_subscribe(push_server, ana)
    settle(trip, olivia, departures[0])
    assert post(logged_in(ana), UNSUBSCRIBE, {"endpoint": phone.endpoint}).status_code == 204
    sending.messages_send()
    message = Message.objects.get(channel="push", recipient=ana)
    assert (message.state, message.last_error) == ("dropped", "notifications turned off")
    assert pushes(push_server, phone) == []


def test_a_push_service_in_trouble_is_tried_again_with_backoff(push_server):
    trip, (olivia, ana, _ben), departures = factories.planned_trip(travellers=3)
    phone = browser_subscribe(push_server, ana)
    push_server.answer(phone.endpoint, 503)

    settle(trip, olivia, departures[0])
    sending.messages_send()
    message = Message.objects.get(channel="push", recipient=ana)
    assert (message.state, message.attempts) == ("queued", 1)
    assert "503" in message.last_error
    assert PushSubscription.objects.filter(user=ana).exists()
    assert sending.messages_send() == 0  # not due before the backoff

    later = timezone.now() + dt.timedelta(seconds=31)
    assert sending.messages_send(now=later) == 1
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("sent", 2)
    assert len(pushes(push_server, phone)) == 1


def test_a_push_that_keeps_failing_fails_after_the_last_attempt(push_server, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "MESSAGE_MAX_ATTEMPTS": 2}
    trip, (olivia, ana, _ben), departures = factories.planned_trip(travellers=3)
    phone = browser_subscribe(push_server, ana)
    push_server.answer(phone.endpoint, 500, times=2)
    settle(trip, olivia, departures[0])
    sending.messages_send()
    sending.messages_send(now=timezone.now() + dt.timedelta(minutes=5))
    message = Message.objects.get(channel="push", recipient=ana)
    assert (message.state, message.attempts) == ("failed", 2)


def test_a_member_on_the_trips_live_page_is_not_pushed(push_server):
    trip, (olivia, ana, ben), departures = factories.planned_trip(travellers=3)
    ana_phone, ben_phone = browser_subscribe(push_server, ana), browser_subscribe(push_server, ben)
    settle(trip, olivia, departures[0])
    # Ana has the plan open when the worker sends; Ben's page was closed long ago.
    TripPresence.objects.create(
        trip=trip, user=ana, channel_name="ana-socket", last_seen_at=timezone.now()
    )
    TripPresence.objects.create(
        trip=trip,
        user=ben,
        channel_name="ben-socket",
        last_seen_at=timezone.now() - dt.timedelta(hours=1),
    )
    sending.messages_send()
    ana_push = Message.objects.get(channel="push", recipient=ana)
    assert (ana_push.state, ana_push.last_error) == ("dropped", "on the trip's page")
    assert pushes(push_server, ana_phone) == []
    assert len(pushes(push_server, ben_phone)) == 1
    # Her e-mail still goes: it is read later, elsewhere.
    assert Message.objects.get(channel="email", recipient=ana).state == "sent"


def test_a_cause_repeated_pushes_once_per_kind_object_recipient_and_channel(push_server):
    ana = factories.user()
    phone = browser_subscribe(push_server, ana)
    trip, (olivia, *_), departures = factories.planned_trip(travellers=1)
    settle(trip, olivia, departures[0])
    leg = trip.legs.get()
    for _ in range(2):
        message_queue(kind="booking.train_chosen", object_id=leg.pk, recipient_ids=[ana.pk])
    assert Message.objects.filter(recipient=ana, channel="push").count() == 1
    sending.messages_send()
    sending.messages_send(now=timezone.now() + dt.timedelta(hours=2))
    message_queue(kind="booking.train_chosen", object_id=leg.pk, recipient_ids=[ana.pk])
    sending.messages_send(now=timezone.now() + dt.timedelta(hours=4))
    assert len(pushes(push_server, phone)) == 1


def test_the_checkout_a_friend_paid_and_the_booking_are_pushed(
    push_server,
    stripe_sandbox,  # noqa: F811 - the fixture imported above
):
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    Profile.objects.filter(user=ben).update(preferred_language="en")
    ana_phone, ben_phone = browser_subscribe(push_server, ana), browser_subscribe(push_server, ben)
    sending.messages_send()
    push_server.clear()

    checkout = payment_services.checkout_start(trip_id=trip.pk, by=olivia)
    sending.messages_send()
    [started] = pushes(push_server, ben_phone)
    ben_share = Share.objects.get(checkout=checkout, traveller=ben)
    assert started["title"] == f"{trip.title}: time to pay"
    amount = f"{(ben_share.amount_cents - ben_share.credit_cents) / 100:.2f}"
    assert amount in started["body"] and "nobody is charged" in started["body"]
    # Nobody's push carries another traveller's share.
    others = Share.objects.filter(checkout=checkout).exclude(traveller=ben)
    for share in others:
        if share.amount_cents != ben_share.amount_cents:
            assert f"{share.amount_cents / 100:.2f}" not in json.dumps(started)
    [started_fr] = pushes(push_server, ana_phone)
    assert started_fr["title"] == f"{trip.title} : à vous de payer"
    push_server.clear()

    # Olivia pays her own share: Ana and Ben are told, without her amount.
    payment_services.payment_start(
        checkout_id=checkout.pk,
        payer=olivia,
        share_ids=[Share.objects.get(checkout=checkout, traveller=olivia).pk],
        payment_method=stripe_sandbox.card_payment_method(),
    )
    tasks_run()
    sending.messages_send()
    [paid] = pushes(push_server, ben_phone)
    assert paid["title"].endswith("paid") and paid["body"] == "1 of 3 travellers has paid."
    [paid_fr] = pushes(push_server, ana_phone)
    assert paid_fr["body"] == "1 voyageur sur 3 a payé."
    assert not Message.objects.filter(kind="payments.friend_paid", recipient=olivia).exists()
    push_server.clear()

    # Ana pays for herself and Ben: the trip is booked.
    payment_services.payment_start(
        checkout_id=checkout.pk,
        payer=ana,
        share_ids=list(
            Share.objects.filter(checkout=checkout, traveller__in=[ana, ben]).values_list(
                "pk", flat=True
            )
        ),
        payment_method=stripe_sandbox.card_payment_method(),
    )
    tasks_run()
    sending.messages_send()
    [booked] = [p for p in pushes(push_server, ben_phone) if "booked" in p["title"]]
    assert booked["title"] == f"{trip.title}: booked!"
    seat = SeatAllocation.objects.get(user=ben, state="sold").seat
    # The seat's one name, as on his page and ticket.
    assert (
        booked["body"] == f"Your tickets are ready: Coach {seat.coach.number}, seat {seat.number}."
    )
    assert booked["url"].endswith(f"/trips/{trip.pk}/")
    # "Ana paid" reached the outbox after the booking was confirmed: dropped, not pushed.
    ana_paid = Message.objects.filter(kind="payments.friend_paid", recipient=ben).latest("pk")
    assert (ana_paid.state, ana_paid.last_error) == ("dropped", "nothing to send any more")
    assert not [p for p in pushes(push_server, ben_phone) if p["title"].endswith("paid")]
    assert push_server.refused == []


# --- The person's data --------------------------------------------------------------------


def test_deleting_the_account_removes_subscriptions_and_queued_pushes(push_server):
    trip, (olivia, ana, _ben), departures = factories.planned_trip(travellers=3)
    phone = browser_subscribe(push_server, ana)
    exported = account_export(user=ana)["push_subscriptions"]
    assert [s["endpoint"] for s in exported] == [phone.endpoint]
    assert "auth" not in exported[0]

    settle(trip, olivia, departures[0])
    assert Message.objects.filter(recipient=ana, channel="push", state="queued").exists()
    from groups.models import Membership

    Membership.objects.filter(user=ana).delete()  # leave first: the test is about push
    account_delete(user=ana)
    assert not PushSubscription.objects.filter(user=ana).exists()
    assert not Message.objects.filter(recipient=ana, state="queued").exists()
    sending.messages_send()
    assert pushes(push_server, phone) == []


# --- Keys ---------------------------------------------------------------------------------


def test_the_vapid_keys_command_prints_a_working_pair():
    out = io.StringIO()
    call_command("vapid_keys", stdout=out, stderr=io.StringIO())
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    assert vapid_public_key_of(lines["VAPID_PRIVATE_KEY"]) == lines["VAPID_PUBLIC_KEY"]


def test_a_debug_install_keeps_its_own_vapid_pair(tmp_path):
    from core.install_secret import vapid_keys_read_or_create

    path = tmp_path / "vapid_key"
    first = vapid_keys_read_or_create(path)
    assert vapid_keys_read_or_create(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert vapid_keys_read_or_create(tmp_path / "other") != first


def test_the_service_worker_is_served_at_the_root_with_its_scope(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert b"showNotification" in response.content and b"openWindow" in response.content


def test_a_cancelled_train_is_pushed_to_its_booked_travellers_in_their_language(
    push_server,
    stripe_sandbox,  # noqa: F811 - the fixture imported above
):
    """Issue 19 point 3's last moment: a disruption (issue 20) reaches those not on the
    page, without any amount."""
    from booking import disruptions

    trip, (olivia, ana), departure, _checkout = factories.booked_by_organiser(
        stripe_sandbox, travellers=2
    )
    Profile.objects.filter(user=ana).update(preferred_language="en")
    Profile.objects.filter(user=olivia).update(preferred_language="fr")
    ana_phone = browser_subscribe(push_server, ana)
    olivia_phone = browser_subscribe(push_server, olivia)
    sending.messages_send()
    push_server.clear()

    disruptions.departure_cancel(departure_id=departure.pk, reason="Flood")
    disruptions.disruptions_apply()
    sending.messages_send()

    [english] = pushes(push_server, ana_phone)
    assert english["title"] == f"Train {departure.service_number} is cancelled"
    assert english["body"].startswith(f"{trip.title}: choose a full refund")
    assert english["url"].endswith(f"/trips/{trip.pk}/")
    [french] = pushes(push_server, olivia_phone)
    assert french["title"] == f"Le train {departure.service_number} est supprimé"
    assert "€" not in json.dumps([english, french])
