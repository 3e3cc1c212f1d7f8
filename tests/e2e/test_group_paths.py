"""Issue 22's "Done when", the paths beyond a one-way trip of three, on phones at 360x740
inside Facebook's in-app browser: a return trip to a concert for four friends (two of
them reading English, two French) and a fifth who joins once the others are seated.

One journey, each person in their own browser against Daphne (websockets) with the Stripe
sandbox: a fare chosen on the outbound is found on the return; "Sit us together" seats
the four, then a server refusal reaches each in their own language; the late friend is
seated next to them; the organiser hands the role over after a confirmation naming the
person, and the new organiser is told live and gets the organiser's tools without a
reload; no pay page shows a friend's amount unless that friend chose to show it; one
friend covers another and both pay pages say so; the data export of a traveller who paid
holds fare, card, seat, share, payment and ticket. A second test: a guest who cancels the
code page and signs up again logs in with the code received.

Needs PostgreSQL and Redis (Daphne in another process, broadcasts from this one), as
test_trip_phone. Screenshots in both languages land in tests/e2e/screenshots/."""

import datetime as dt
import json

import pytest
from django.core import mail
from django.utils import timezone, translation

from booking import plan
from booking.demo import card_sample_number
from booking.models import AllocationState, SeatAllocation, TravellerFare
from payments import services, tasks
from payments.models import Checkout, Share
from sandboxes.stripe_server import CARD_OK
from tests import factories
from tests.e2e.conftest import facebook_phone
from tests.e2e.test_join_trip import _code_in
from tests.e2e.test_live_checkout import elsewhere, redis_layer  # noqa: F401
from tests.e2e.test_live_plan import serve_daphne
from tests.e2e.test_paths_privacy import _amount
from tests.e2e.test_split_payment import _pay
from tests.groups.conftest import fresh_rate_limits  # noqa: F401
from tests.groups.test_guest_signup_again import no_wait_between_codes  # noqa: F401
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SEEN_WITHIN_MS = 4_000
HELD = "[data-plan-seatmap] [data-seat][data-holder]:not([data-holder=''])"
ONE_LINE = """(node) => node.getBoundingClientRect().height
  <= 1.5 * parseFloat(getComputedStyle(node).lineHeight)"""


@pytest.fixture
def daphne_paying(transactional_db, stripe_sandbox, tmp_path):  # noqa: F811
    """Daphne with the Stripe sandbox's settings, so that its pay pages take cards."""
    stripe = {name: str(value) for name, value in stripe_sandbox.settings().items()}
    stripe["STRIPE_SANDBOX"] = "1"
    with serve_daphne(tmp_path, **stripe) as base:
        yield base


def _concert_return_trip():
    """Olivia's return trip to a concert in Lyon: four friends, the train chosen on both
    legs (a coach of second class with room behind the group's table)."""
    factories.passenger_types()
    factories.discount_cards()
    paris = factories.station("FRPLY", name="Paris Gare de Lyon", city="Paris")
    lyon = factories.station("FRLPD", name="Lyon Part-Dieu", city="Lyon")
    concert = factories.event(station_obj=lyon, days_ahead=6)
    day = concert.starts_on
    olivia = factories.user("Olivia")
    trip = factories.trip(
        organiser=olivia,
        event_slug=concert.slug,
        destination_code=None,
        outbound_from=day,
        return_from=day + dt.timedelta(days=1),
        title="Concert à Lyon",
    )
    friends = [factories.member(trip, name) for name in ("Ana", "Ben", "Chloé")]
    train = factories.vehicle(second_rows=6)
    for leg, when, origin, destination in (
        ("outbound", day, paris, lyon),
        ("return", day + dt.timedelta(days=1), lyon, paris),
    ):
        options = [
            factories.departure(
                origin=origin,
                destination=destination,
                vehicle_obj=train,
                departs_at=timezone.make_aware(dt.datetime.combine(when, dt.time(hour, 12))),
            )
            for hour in (9, 17)
        ]
        plan.poll_propose(
            trip_id=trip.pk, by=olivia, leg=leg, departure_ids=[d.pk for d in options]
        )
        plan.poll_settle(trip_id=trip.pk, by=olivia, leg=leg, departure_id=options[0].pk)
    trip.refresh_from_db()
    return trip, [olivia, *friends]


def _seats_of(trip, leg):
    return {
        a.user_id: a.seat
        for a in SeatAllocation.objects.filter(
            leg__trip=trip, leg__direction=leg, state=AllocationState.HELD
        ).select_related("seat", "seat__coach")
    }


def test_a_return_trip_to_a_concert_for_five_friends_from_the_plan_to_the_data_export(
    browser,
    redis_layer,  # noqa: F811
    daphne_paying,
    stripe_sandbox,  # noqa: F811
    screenshots,
):
    from playwright.sync_api import expect

    base = daphne_paying
    trip, (olivia, ana, ben, chloe) = elsewhere(_concert_return_trip)
    assert trip.event is not None and trip.outbound_from == trip.event.starts_on
    languages = {olivia: "en", ana: "fr", ben: "en", chloe: "fr"}
    people = {
        user: facebook_phone(browser, base, user, language=lang) for user, lang in languages.items()
    }
    pages = {user: page for user, (_context, page) in people.items()}
    url = f"{base}/trips/{trip.pk}/"
    youth_number = card_sample_number(factories.discount_cards()["youth-card"])
    try:
        for page in pages.values():
            page.goto(f"{url}#plan")
            expect(page.locator("[data-plan-conn]")).to_have_attribute("data-state", "live")

        # --- Ben (English) chooses a youth fare with his card on the outbound ...
        ben_page = pages[ben]
        form = ben_page.locator("[data-fare-form]")
        form.locator("[name=fare_class]").select_option("standard-2")
        form.locator("[name=passenger_type]").select_option("youth")
        form.locator("[name=age]").fill("20")
        form.locator("[name=card]").select_option("youth-card")
        form.locator("[name=card_number]").fill(youth_number)
        form.locator("button[type=submit]").click()
        expect(ben_page.locator('[data-feedback="ticket"]')).to_contain_text("saved")
        expect(form.locator("[data-fare-carries]")).to_be_visible(timeout=SEEN_WITHIN_MS)
        # ... and finds it on the return leg without typing it again.
        ben_page.goto(f"{url}?leg=return#plan")
        expect(ben_page.locator("[data-trip-plan]")).to_have_attribute("data-leg", "return")
        back = ben_page.locator("[data-fare-form]")
        expect(back.locator("[name=passenger_type]")).to_have_value("youth")
        expect(back.locator("[name=age]")).to_have_value("20")
        expect(back.locator("[name=card]")).to_have_value("youth-card")
        ben_page.screenshot(path=str(screenshots / "paths-return-fare-en.png"), full_page=True)
        fares = TravellerFare.objects.filter(user=ben, leg__trip=trip).select_related(
            "passenger_type", "discount_card", "leg"
        )
        assert {
            (f.leg.direction, f.passenger_type.code, f.age, f.discount_card.code) for f in fares
        } == {("outbound", "youth", 20, "youth-card"), ("return", "youth", 20, "youth-card")}
        ben_page.goto(f"{url}#plan")
        expect(ben_page.locator("[data-plan-conn]")).to_have_attribute("data-state", "live")

        # --- Chloé (French) chooses to show her card, age and price to the group.
        chloe_page = pages[chloe]
        chloe_page.locator('[data-plan-ticket] form[action$="/share-details/"] button').click()
        expect(chloe_page.locator("[data-plan-ticket] .plan-block__lead")).to_contain_text(
            "Le groupe voit"
        )
        expect(chloe_page.locator("[data-plan-conn]")).to_have_attribute("data-state", "live")

        # --- Olivia: "Sit us together" seats the four on the outbound, everyone sees it.
        organiser = pages[olivia]
        organiser.locator("[data-sit-together]:visible").click()
        expect(organiser.locator('[data-feedback="seats"]')).to_contain_text("together")
        for page in pages.values():
            expect(page.locator(HELD)).to_have_count(4, timeout=SEEN_WITHIN_MS)

        # --- A refusal the server sends, each in their own language.
        with translation.override("en"):
            english = translation.gettext("Everyone already has a seat on this train.")
        with translation.override("fr"):
            french = translation.gettext("Everyone already has a seat on this train.")
        assert english != french
        for user, said in ((ben, english), (ana, french)):
            pages[user].locator("[data-sit-together]:visible").click()
            feedback = pages[user].locator('[data-feedback="seats"]')
            expect(feedback).to_have_text(said, timeout=SEEN_WITHIN_MS)
            expect(feedback).to_have_attribute("role", "alert")
        ben_page.screenshot(path=str(screenshots / "paths-refusal-en.png"))
        pages[ana].screenshot(path=str(screenshots / "paths-refusal-fr.png"))

        # --- Léa joins by the organiser's link once the four are seated ...
        group_seats = _seats_of(trip, "outbound")
        lea = elsewhere(factories.member, trip_obj=trip, name="Léa")
        expect(organiser.locator('.trip-head__facts [data-trip-live="count"]')).to_contain_text(
            "5 travellers", timeout=SEEN_WITHIN_MS
        )
        people[lea] = facebook_phone(browser, base, lea, language="en")
        lea_page = people[lea][1]
        pages[lea] = lea_page
        lea_page.goto(f"{url}#plan")
        expect(lea_page.locator("[data-plan-conn]")).to_have_attribute("data-state", "live")
        # ... and "Sit us together" puts her next to them, and says so.
        lea_page.locator("[data-sit-together]:visible").click()
        expect(lea_page.locator('[data-feedback="seats"]')).to_contain_text(
            "next to the others", timeout=SEEN_WITHIN_MS
        )
        for page in pages.values():
            expect(page.locator(HELD)).to_have_count(5, timeout=SEEN_WITHIN_MS)
        seats = _seats_of(trip, "outbound")
        assert {k: v.pk for k, v in seats.items() if k != lea.pk} == {
            k: v.pk for k, v in group_seats.items()
        }  # the four did not move
        mine = seats[lea.pk]
        assert {s.coach_id for s in group_seats.values()} == {mine.coach_id}
        assert min(abs(mine.row - s.row) for s in group_seats.values()) <= 1
        lea_page.screenshot(path=str(screenshots / "paths-late-joiner-en.png"))
        # The return leg: the five sit together there too (its own page, the same button).
        elsewhere(plan.sit_together, trip_id=trip.pk, user=olivia, leg="return")
        assert len(_seats_of(trip, "return")) == 5

        # --- Olivia hands the role over to Ben: a confirmation naming him first.
        organiser.locator("#members > summary").click()
        organiser.locator(f'[data-member="{ben.pk}"] [data-member-hand-over]').click()
        organiser.screenshot(path=str(screenshots / "paths-hand-over-en.png"), full_page=True)
        organiser.get_by_role("button", name="Make Ben the organiser").click()
        organiser.wait_for_url(f"**/trips/{trip.pk}/**")
        # Ben is told on the page he has open, and has the organiser's tools at once.
        expect(ben_page.locator("[data-plan-news]")).to_have_text(
            "You are now the organiser of this trip.", timeout=SEEN_WITHIN_MS
        )
        expect(ben_page.locator("[data-member-remove]")).to_have_count(4, timeout=SEEN_WITHIN_MS)
        expect(ben_page.locator("#settings")).to_have_count(1)
        expect(ben_page.locator("[data-checkout-start] [data-open-dialog]")).to_be_visible()
        expect(organiser.locator("[data-member-remove]")).to_have_count(0)

        # --- Ben starts the checkout.
        ben_page.locator("[data-checkout-start] [data-open-dialog]").click()
        dialog = ben_page.locator("#checkout-dialog")
        dialog.locator('input[name="deadline_hours"]').fill("12")
        dialog.get_by_role("button", name="Start checkout").click()
        expect(ben_page.locator("[data-checkout]")).to_be_visible()
        checkout = Checkout.objects.get(trip=trip)
        shares = {s.traveller_id: s for s in Share.objects.filter(checkout=checkout)}
        assert len(shares) == 5
        assert len({s.amount_cents for s in shares.values()}) > 1  # Ben's card shows

        def pay_page(user, language):
            token = services.pay_link_token(checkout=checkout, payer=user)
            context, page = facebook_phone(browser, base, language=language)  # the link is enough
            page.goto(f"{base}/pay/{token}/")
            return context, page

        # --- Olivia's pay page: Chloé's amount (she shows it), nobody else's.
        context, page = pay_page(olivia, "en")
        amounts = page.locator("[data-pay-statuses] [data-status-amount]")
        expect(amounts).to_have_count(1)
        expect(page.locator(f'[data-pay-statuses] [data-traveller="{chloe.pk}"]')).to_contain_text(
            _amount(shares[chloe.pk].amount_cents)
        )
        expect(page.locator("body")).not_to_contain_text(_amount(shares[ben.pk].amount_cents))
        expect(page.locator(f'[data-cover-share="{shares[ana.pk].pk}"]')).to_be_visible()
        page.screenshot(path=str(screenshots / "paths-pay-shown-only-en.png"), full_page=True)
        context.close()

        # --- Ana (French) covers Léa's share with her own, in one payment.
        context, page = pay_page(ana, "fr")
        expect(page.locator("[data-pay-statuses] [data-status-amount]")).to_have_count(1)
        page.locator(f'[data-cover-share="{shares[lea.pk].pk}"]').click()
        expect(page.locator(f'input[name="shares"][value="{shares[lea.pk].pk}"]')).to_be_checked()
        result = _pay(page, CARD_OK)
        expect(result).to_have_attribute("data-kind", "success")
        paid_for = page.locator("[data-pay-paid-for]")
        expect(paid_for).to_be_visible()
        expect(paid_for.locator("[data-pay-paid-share]")).to_have_count(2)
        expect(paid_for).to_contain_text("Léa")
        total = shares[ana.pk].amount_cents + shares[lea.pk].amount_cents
        expect(paid_for.locator(".pay-amount")).to_contain_text(_amount(total))
        page.screenshot(path=str(screenshots / "paths-covering-fr.png"), full_page=True)
        # Each name on one line, the longer French state under it if need be (once
        # "Chloé" was squeezed into a column of letters beside "Pas encore payé · 130,00 €").
        for name in page.locator("[data-pay-statuses] .pay-status__name").all():
            assert name.evaluate(ONE_LINE), name.inner_text()
        context.close()

        # --- Léa is told Ana paid for her, and nothing about a card of hers.
        context, page = pay_page(lea, "en")
        expect(page.locator("[data-pay-covered-by]")).to_contain_text("Ana")
        expect(page.locator("body")).not_to_contain_text("charged only when everyone has paid")
        expect(page.locator("[data-share-mine]")).to_have_count(0)  # nothing left to pay
        page.screenshot(path=str(screenshots / "paths-covered-en.png"), full_page=True)
        context.close()

        # --- The others pay; the worker books; every page shows its tickets.
        for user in (olivia, ben, chloe):
            elsewhere(
                services.payment_start,
                checkout_id=checkout.pk,
                payer=user,
                share_ids=[shares[user.pk].pk],
                payment_method=stripe_sandbox.card_payment_method(),
            )
        elsewhere(tasks.checkout_confirmations)
        for page in pages.values():
            expect(page.locator("[data-tickets]")).to_be_visible(timeout=10_000)

        # --- Ben downloads his data: fare, card, seats, share, payment and tickets.
        ben_page.goto(f"{base}/account/")
        with ben_page.expect_download() as download:
            ben_page.locator('a[href="/account/data.json"]').click()
        data = json.loads(open(download.value.path(), encoding="utf-8").read())  # noqa: SIM115
        travel = data["travel"]
        assert (
            sorted(
                (f["passenger_type"], f["age"], f["discount_card"], f["discount_card_number"])
                for f in travel["fares"]
            )
            == [("youth", 20, "youth-card", youth_number)] * 2
        )
        assert len(travel["seats"]) == 2 and {s["state"] for s in travel["seats"]} == {"sold"}
        assert len(travel["tickets"]) == 2
        (share,) = data["payments"]["shares"]
        assert share["amount_cents"] == shares[ben.pk].amount_cents and share["paid_by_you"]
        (payment,) = data["payments"]["payments"]
        assert payment["shares_of_others"] == 0
    finally:
        for context, _page in people.values():
            context.close()


def test_a_guest_who_cancels_and_signs_up_again_logs_in_with_the_code_received(
    live_server,
    browser,
    screenshots,
    no_wait_between_codes,  # noqa: F811
    fresh_rate_limits,  # noqa: F811
):
    from playwright.sync_api import expect

    base = live_server.url
    trip, (olivia, _ana), _departures = elsewhere(factories.planned_trip, travellers=2)
    token = elsewhere(factories.link_made_while_planning, trip=trip, by=olivia)
    context, page = facebook_phone(browser, base, language="fr")
    try:
        page.goto(f"{base}/join/{token}/")
        page.locator('a[href^="/accounts/signup/"]').click()
        # He signs up from the invitation, leaves the code page ("Cancel"), then signs up
        # again from the invitation with the same address.
        for attempt, name in enumerate(("Gaspard", "Gaspard Martin")):
            if attempt:
                page.locator("[data-code-cancel]").click()
                page.goto(f"{base}/join/{token}/")
                page.locator('a[href^="/accounts/signup/"]').click()
            page.fill('input[name="name"]', name)
            page.fill('input[name="email"]', "gaspard@example.test")
            page.locator('form[action="/accounts/signup/"] button[type=submit]').click()
            expect(page.locator('input[name="code"]')).to_be_visible()
        assert [m.to for m in mail.outbox] == [["gaspard@example.test"]] * 2
        page.screenshot(path=str(screenshots / "paths-code-again-fr.png"), full_page=True)
        page.fill('input[name="code"]', _code_in(mail.outbox[-1]))
        page.locator('input[name="code"]').press("Enter")
        # Logged in, back on the invitation, he is in the group.
        page.wait_for_url(f"{base}/trips/{trip.pk}/")
        expect(page.locator("#members")).to_contain_text("Gaspard Martin")
        # No password page in an app without passwords.
        assert page.goto(f"{base}/accounts/password/reset/").status == 404
    finally:
        context.close()
