"""Every kind of e-mail, rendered as the worker renders it and opened in Chromium at
320 px (the narrowest phones) in light and dark mode: nothing is wider than the screen,
dark mode turns the page dark, and the inline images show. Screenshots of each, in
French and English, land in tests/e2e/screenshots/emails/ for a person to look at."""

import base64
import datetime as dt

import pytest
from django.utils import timezone, translation

from booking import plan
from booking.models import SeatAllocation, Ticket
from groups import services as group_services
from groups.models import Profile
from notices import kinds
from notices.models import Message
from notices.services import message_queue
from payments import services
from payments.models import Share
from tests import factories
from tests.payments.conftest import (  # noqa: F401
    stripe_sandbox,
    stripe_sandbox_process,
    tasks_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _render(message: Message):
    with translation.override(message.language):
        return kinds.kind_get(message.kind).render(message)


def _pay(sandbox, checkout, payer, users) -> None:
    services.payment_start(
        checkout_id=checkout.pk,
        payer=payer,
        share_ids=list(
            Share.objects.filter(checkout=checkout, traveller__in=users).values_list(
                "pk", flat=True
            )
        ),
        payment_method=sandbox.card_payment_method(),
    )
    tasks_run()


def test_every_e_mail_reads_at_320_px_in_light_and_dark_mode(
    browser,
    stripe_sandbox,  # noqa: F811
    screenshots,
    settings,
):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "SITE_URL": "https://sidebyside.example"}
    rendered = {}  # (kind, language) → Email

    def keep(kind: str, object_id: int | None = None) -> None:
        messages = Message.objects.filter(kind=kind)
        if object_id is not None:
            messages = messages.filter(object_id=object_id)
        for message in messages:
            content = _render(message)
            assert content is not None, f"{kind} rendered nothing"
            rendered.setdefault((kind, message.language), content)

    # A booked trip: its news, checkout, a reminder, receipts, tickets, a cancellation.
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    Profile.objects.filter(user=ben).update(preferred_language="en")
    keep("booking.train_chosen")
    group_services.invitation_create(
        group_id=trip.group_id, by=olivia, channel="email", invitee_email="zoe@example.org"
    )
    Profile.objects.filter(user=olivia).update(preferred_language="en")
    group_services.invitation_create(
        group_id=trip.group_id, by=olivia, channel="email", invitee_email="zack@example.org"
    )
    keep("groups.invited")
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="cancel_all")
    keep("payments.checkout_started")
    for share in Share.objects.filter(checkout=checkout):
        message_queue(
            kind="payments.reminder_1",
            object_id=share.pk,
            recipient_ids=[share.traveller_id],
            trip_id=trip.pk,
        )
    keep("payments.reminder_1")
    _pay(stripe_sandbox, checkout, ana, [ana])
    _pay(stripe_sandbox, checkout, ben, [ben])
    _pay(stripe_sandbox, checkout, olivia, [olivia])
    keep("payments.payment_received")
    keep("booking.booking_confirmed")
    services.ticket_cancel(ticket_id=Ticket.objects.get(traveller=ben).pk, by=ben)
    services.ticket_cancel(ticket_id=Ticket.objects.get(traveller=ana).pk, by=ana)
    keep("booking.ticket_cancelled")

    # A checkout that goes ahead without one traveller, and one cancelled at its deadline.
    for policy, kind in (
        ("go_ahead", "payments.traveller_dropped"),
        ("cancel_all", "payments.checkout_cancelled"),
    ):
        other, (lea, max_, noa), _ = factories.checkout_ready_trip(travellers=3)
        Profile.objects.filter(user=noa).update(preferred_language="en")
        Profile.objects.filter(user=max_).update(preferred_language="en")
        started = services.checkout_start(trip_id=other.pk, by=lea, policy=policy)
        if policy == "go_ahead":
            _pay(stripe_sandbox, started, lea, [lea])
        else:
            Profile.objects.filter(user=lea).update(preferred_language="fr")
        services.checkout_deadline(
            checkout_id=started.pk, now=started.deadline_at + dt.timedelta(seconds=1)
        )
        tasks_run()
        keep(kind, started.pk)

    # A group whose held seats lapsed with nobody on the page (issue 22, point 5).
    planned, (pia, _tom), (early, _late) = factories.planned_trip(travellers=2)
    Profile.objects.filter(user=pia).update(preferred_language="en")
    plan.sit_together(trip_id=planned.pk, user=pia, leg="outbound", departure_id=early.pk)
    SeatAllocation.objects.filter(leg__trip=planned, state="held").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    plan.holds_expire()
    keep("booking.holds_lapsed")

    expected = _e_mail_kinds() - {"payments.reminder_2"} - DISRUPTION_AND_CARE
    assert {kind for kind, _language in rendered} >= expected
    _read_at_320_px(browser, screenshots, rendered)


# Rendered by the second test, on trips of their own (a disruption needs a train of its own).
DISRUPTION_AND_CARE = {
    "booking.train_cancelled",
    "booking.rerouted",
    "booking.train_delayed",
    "payments.delay_compensation",
    "booking.vehicle_swapped",
    "booking.choose_again",
    "care.staff_answered",
}


def _e_mail_kinds() -> set[str]:
    """Every registered kind that is sent by e-mail (a push-only kind renders no e-mail)."""
    return {kind.name for kind in kinds.registered() if kind.render is not None}


def _keep_all(rendered: dict, kind: str) -> None:
    for message in Message.objects.filter(kind=kind, channel=Message.Channel.EMAIL):
        content = _render(message)
        assert content is not None, f"{kind} rendered nothing"
        rendered.setdefault((kind, message.language), content)


def test_disruption_and_care_e_mails_read_at_320_px_in_light_and_dark_mode(
    browser,
    stripe_sandbox,  # noqa: F811
    screenshots,
    settings,
):
    from booking import disruptions, plan
    from care import services as care_services
    from tests.booking.test_disruptions import _arrived_late, _other_train
    from tests.care.conftest import make_agent

    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "SITE_URL": "https://sidebyside.example"}
    rendered = {}

    # A booked group's train cancelled; they take the train proposed instead.
    trip, (lia, tom, eva), departure, _checkout = factories.booked_by_organiser(
        stripe_sandbox, travellers=3
    )
    Profile.objects.filter(user=eva).update(preferred_language="en")
    disruption, _changed = disruptions.departure_cancel(departure_id=departure.pk, reason="Flood")
    disruptions.disruptions_apply()
    _keep_all(rendered, "booking.train_cancelled")
    other = _other_train(departure)
    disruptions.reroute_propose(
        trip_id=trip.pk, disruption_id=disruption.pk, departure_id=other.pk, by=lia
    )
    for person in (lia, tom, eva):
        ticket = Ticket.objects.get(booking__trip=trip, traveller=person)
        disruptions.reroute_accept(ticket_id=ticket.pk, by=person)
    disruptions.reroute_seat(trip_id=trip.pk, by=lia)
    _keep_all(rendered, "booking.rerouted")

    # The care team answers one of them.
    agent = make_agent()
    case = care_services.case_open(trip_id=trip.pk, user=eva, body="Which coach?", visibility="me")
    care_services.message_post(case_id=case.pk, user=agent, body="Coach 2.", as_staff=True)
    _keep_all(rendered, "care.staff_answered")

    # A late train that pays compensation; a vehicle changed under a booked group.
    for make in ("late", "swap"):
        _trip, people, train, _c = factories.booked_by_organiser(stripe_sandbox, travellers=2)
        Profile.objects.filter(user=people[1]).update(preferred_language="en")
        if make == "late":  # announced late, then arrived late
            disruptions.departure_delay(
                departure_id=train.pk,
                expected_arrival_at=train.arrives_at + dt.timedelta(minutes=75),
                reason="Signal failure",
            )
            disruptions.disruptions_apply()
            _arrived_late(train, 75)
        else:
            disruptions.departure_vehicle_swap(
                departure_id=train.pk, vehicle_id=factories.vehicle().pk
            )
        disruptions.disruptions_apply()
        tasks_run()
    for kind in ("booking.train_delayed", "payments.delay_compensation", "booking.vehicle_swapped"):
        _keep_all(rendered, kind)

    # A trip still planning whose chosen train is cancelled: the organiser chooses again.
    planning, people, departures = factories.planned_trip(travellers=2)
    plan.poll_settle(
        trip_id=planning.pk, by=people[0], leg="outbound", departure_id=departures[0].pk
    )
    disruptions.departure_cancel(departure_id=departures[0].pk)
    disruptions.disruptions_apply()
    _keep_all(rendered, "booking.choose_again")

    assert {kind for kind, _language in rendered} >= DISRUPTION_AND_CARE & _e_mail_kinds()
    _read_at_320_px(browser, screenshots, rendered)


def _read_at_320_px(browser, screenshots, rendered: dict) -> None:
    folder = screenshots / "emails"
    folder.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 320, "height": 640}, color_scheme=scheme, device_scale_factor=2
        )
        page = context.new_page()
        for (kind, language), content in sorted(rendered.items()):
            html = content.html
            for content_id, data, mimetype in content.inline_images:
                inline = f"data:{mimetype};base64,{base64.b64encode(data).decode()}"
                html = html.replace(f"cid:{content_id}", inline)
            page.set_content(html)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 320, f"{kind} ({language}) is {width} px wide at 320 px"
            # The small screens' rules win over the inlined styles.
            padding = page.evaluate("getComputedStyle(document.querySelector('.card')).padding")
            assert padding == "12px", f"{kind} ({language}): the card's padding is {padding}"
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            dark = background == "rgb(24, 24, 27)"
            assert dark == (scheme == "dark"), f"{kind} ({language}) in {scheme}: {background}"
            assert page.evaluate(
                "[...document.images].every((image) => image.complete && image.naturalWidth)"
            ), f"{kind} ({language}): an image does not show"
            name = f"{kind.replace('.', '-')}-{language}-{scheme}-320.png"
            page.screenshot(path=str(folder / name), full_page=True)
        context.close()
