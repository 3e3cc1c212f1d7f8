"""A cancelled train, end to end (issue 20, docs/disruptions.md): a booked group of three
has the trip page open; the operator cancels their train from the admin; the worker's
pass reaches every open page live (the banner); the organiser proposes the train the
banner offers, two take it and are seated together on it with new tickets, the third
takes the refund, which the Stripe sandbox shows once. Then, on another booked trip, a
75-minute delay pays each traveller 25 %, once. And a traveller of a cancelled train asks
for help: a care agent answers from the inbox, seen live, the first-response time
recorded.

Daphne runs in another process (PostgreSQL, Redis: as tests/e2e/test_live_checkout.py),
with the sandbox's settings in its environment so that its refund reaches the sandbox."""

import datetime as dt

import pytest
from django.utils import timezone

from booking import disruptions
from booking.models import Departure, Disruption, SeatAllocation, Ticket
from care.models import Case
from payments.models import Compensation, Payment, Refund
from tests import factories
from tests.care.conftest import make_agent
from tests.e2e.care_steps import (
    agent_answers,
    answer_seen,
    help_ask,
    inbox_case_arrives,
    traveller_and_agent,
)
from tests.e2e.conftest import DESKTOP, facebook_phone
from tests.e2e.test_live_checkout import elsewhere, redis_layer  # noqa: F401
from tests.e2e.test_live_plan import _browser_as, _open_plan, daphne_url  # noqa: F401
from tests.payments import conftest as payments_conftest

stripe_sandbox_process = payments_conftest.stripe_sandbox_process
stripe_sandbox = payments_conftest.stripe_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEEN_WITHIN_MS = 4_000


@pytest.fixture
def daphne_with_stripe(stripe_sandbox, monkeypatch, request):
    for name, value in stripe_sandbox.settings().items():
        monkeypatch.setenv(name, str(value))
    return request.getfixturevalue("daphne_url")


def stripe_refunds(sandbox, intent_id: str) -> list[int]:
    status, listed = sandbox.request("GET", "/v1/refunds", {"payment_intent": intent_id})
    assert status == 200, listed
    return [r["amount"] for r in listed["data"] if r["payment_intent"] == intent_id]


def test_a_cancelled_train_the_group_rerouted_together_and_one_refunded(
    browser,
    redis_layer,  # noqa: F811
    daphne_with_stripe,
    stripe_sandbox,
    django_user_model,
):
    from playwright.sync_api import expect

    base = daphne_with_stripe
    trip, people, departure, checkout = elsewhere(
        factories.booked_by_organiser, sandbox=stripe_sandbox, travellers=3
    )
    olivia, ana, ben = people
    other = Departure.objects.exclude(pk=departure.pk).get(
        origin=departure.origin, destination=departure.destination
    )
    operator = django_user_model.objects.create(
        username="operator", is_staff=True, is_superuser=True
    )
    contexts = {}
    try:
        for person in people:
            contexts[person] = _browser_as(browser, base, person, viewport=DESKTOP)
            _open_plan(contexts[person][1], base, trip)
        admin_context, admin = _browser_as(browser, base, operator, viewport=DESKTOP)
        contexts[operator] = (admin_context, admin)

        admin.goto(f"{base}/admin/booking/departure/{departure.pk}/change/")
        admin.get_by_role("link", name="Disrupt this departure").click()
        admin.get_by_label("reason").fill("Landslide on the line")
        admin.get_by_role("button", name="Cancel this train").click()
        expect(admin.locator(".messagelist")).to_contain_text("Recorded")
        elsewhere(disruptions.disruptions_apply)  # the worker's pass

        disruption = Disruption.objects.get(departure=departure)
        for person in people:
            banner = contexts[person][1].locator(f'[data-disruption="{disruption.pk}"]')
            expect(banner).to_contain_text("is cancelled", timeout=SEEN_WITHIN_MS)
            expect(banner).to_contain_text("Landslide on the line")

        organiser_page = contexts[olivia][1]
        organiser_page.locator(f'[data-reroute-propose="{other.pk}"]').click()
        expect(organiser_page.locator(f'[data-reroute="{other.pk}"]')).to_be_visible()
        for person in (olivia, ana):
            page = contexts[person][1]
            ticket = Ticket.objects.get(booking__trip=trip, traveller=person, state="valid")
            page.locator(f'[data-reroute-accept="{ticket.pk}"]').click()
            expect(page.locator("[data-disruption-banner]")).to_contain_text(
                "You chose to travel on another train"
            )
        ben_ticket = Ticket.objects.get(booking__trip=trip, traveller=ben)
        ben_page = contexts[ben][1]
        ben_page.locator(f'[data-disruption-refund="{ben_ticket.pk}"]').click()
        expect(ben_page.locator("[data-disruption-banner]")).to_contain_text("You chose the refund")

        organiser_page.locator("[data-reroute-seat]").click()
        expect(organiser_page.locator("[data-rerouted]")).to_be_visible()
        expect(contexts[ana][1].locator("[data-rerouted]")).to_be_visible(timeout=SEEN_WITHIN_MS)
    finally:
        for context, _page in contexts.values():
            context.close()

    valid = Ticket.objects.filter(booking__trip=trip, state="valid")
    assert sorted(valid.values_list("traveller_id", flat=True)) == sorted([olivia.pk, ana.pk])
    seats = SeatAllocation.objects.filter(ticket__in=valid).select_related("seat")
    assert {a.departure_id for a in seats} == {other.pk}
    assert len({a.seat.coach_id for a in seats}) == 1  # together
    payment = Payment.objects.get(checkout=checkout)
    assert stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id) == [
        ben_ticket.price_cents
    ]
    assert Refund.objects.filter(ticket=ben_ticket).count() == 1


def test_a_75_minute_delay_pays_a_quarter_once(stripe_sandbox, transactional_db):
    trip, _people, departure, checkout = factories.booked_by_organiser(stripe_sandbox, travellers=3)
    departs = timezone.now() - dt.timedelta(hours=4)
    Departure.objects.filter(pk=departure.pk).update(
        departs_at=departs, arrives_at=departs + dt.timedelta(hours=2)
    )
    arrived = departs + dt.timedelta(hours=2, minutes=75)
    for _twice in range(2):
        disruptions.departure_delay(departure_id=departure.pk, actual_arrival_at=arrived)
        disruptions.disruptions_apply()
    tickets = list(Ticket.objects.filter(booking__trip=trip))
    compensations = {c.ticket_id: c.amount_cents for c in Compensation.objects.all()}
    assert compensations == {t.pk: t.price_cents // 4 for t in tickets}
    payment = Payment.objects.get(checkout=checkout)
    assert sorted(stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id)) == sorted(
        t.price_cents // 4 for t in tickets
    )


def test_a_traveller_of_the_cancelled_train_asks_for_help_and_care_answers_live(
    browser,
    redis_layer,  # noqa: F811
    daphne_with_stripe,
    stripe_sandbox,
    screenshots,
):
    """The Done-when's care step: on the trip page of a cancelled train, a traveller asks
    for help; the agent, inbox open, sees it arrive, answers beside the trip's tickets,
    payments and that disruption; the traveller sees the answer live; the first-response
    time is recorded (the steps of tests/e2e/test_care.py, tests/e2e/care_steps.py)."""
    from playwright.sync_api import expect

    base = daphne_with_stripe
    trip, people, departure, _checkout = elsewhere(
        factories.booked_by_organiser, sandbox=stripe_sandbox, travellers=2
    )
    traveller = people[1]
    elsewhere(disruptions.departure_cancel, departure_id=departure.pk, reason="Landslide")
    elsewhere(disruptions.disruptions_apply)
    disruption = Disruption.objects.get(departure=departure)
    agent = make_agent("Alex Agent")
    (traveller_context, phone), (agent_context, desk) = traveller_and_agent(
        browser, base, traveller, agent
    )
    try:
        phone.goto(f"{base}/trips/{trip.pk}/")
        expect(phone.locator(f'[data-disruption="{disruption.pk}"]')).to_contain_text(
            "is cancelled"
        )

        question = "Our train is cancelled: can we still travel together today?"
        help_ask(phone, base, trip, question, visibility="group")
        case = Case.objects.get(trip=trip)
        assert case.first_response_at is None

        row = inbox_case_arrives(desk, case, within_ms=SEEN_WITHIN_MS)
        answer = "Yes: the organiser can propose the next train on the trip page."
        agent_answers(desk, row, agent_name="Alex Agent", text=answer)
        disrupted = desk.locator("[data-care-disruptions]")
        expect(disrupted).not_to_contain_text("None recorded")
        answer_seen(phone, answer, within_ms=SEEN_WITHIN_MS)
        phone.screenshot(path=str(screenshots / "disruption-care-360.png"), full_page=True)
    finally:
        traveller_context.close()
        agent_context.close()

    case.refresh_from_db()
    assert case.state == "answered" and case.assigned_to_id == agent.pk
    assert case.first_response_at is not None
    assert 0 <= case.first_response_seconds < 120


@pytest.mark.parametrize("kind", ["cancelled", "late"])
@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_banner_on_a_phone_in_facebook(
    browser,
    stripe_sandbox,
    daphne_url,  # noqa: F811
    screenshots,
    language,
    kind,
):
    from playwright.sync_api import expect

    trip, people, departure, _checkout = elsewhere(
        factories.booked_by_organiser, sandbox=stripe_sandbox, travellers=2
    )
    if kind == "late":  # the banner's choice: compensation to the card or as credit
        elsewhere(
            disruptions.departure_delay,
            departure_id=departure.pk,
            expected_arrival_at=departure.arrives_at + dt.timedelta(minutes=80),
            reason="Storm",
        )
    else:
        elsewhere(disruptions.departure_cancel, departure_id=departure.pk, reason="Storm")
    elsewhere(disruptions.disruptions_apply)
    context, page = facebook_phone(browser, daphne_url, people[1], language=language)
    try:
        page.goto(f"{daphne_url}/trips/{trip.pk}/")
        banner = page.locator("[data-disruption-banner]")
        expect(banner.locator("form button").first).to_be_visible()
        banner.scroll_into_view_if_needed()
        box = banner.bounding_box()
        assert box is not None and box["width"] <= 360  # no sideways scrolling
        page.screenshot(path=screenshots / f"disruption-banner-{kind}-{language}.png")
    finally:
        context.close()
