"""Care, in Chromium (issue 20 point 7): a traveller asks for help from the trip page;
the agent, whose inbox is open, sees the new case arrive live, opens it beside the trip,
and answers; the traveller sees the answer appear without reloading; the case's
first-response time is recorded and counts in "usually answers within".

The sockets need Daphne (``daphne_url`` of test_live_plan: PostgreSQL, skipped on
SQLite). Screenshots at 360x740 (the traveller, Facebook's in-app browser) and 1280x800
(the agent) land in tests/e2e/screenshots/."""

import pytest

from care.models import Case
from care.selectors import usual_response_minutes
from notices.models import Message
from tests import factories
from tests.care.conftest import make_agent
from tests.e2e.care_steps import (
    SEEN_WITHIN_MS,
    agent_answers,
    answer_seen,
    help_ask,
    inbox_case_arrives,
    traveller_and_agent,
)
from tests.e2e.test_live_plan import daphne_url  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_traveller_asks_for_help_and_an_agent_answers_live(
    browser,
    daphne_url,  # noqa: F811
    screenshots,
):
    from playwright.sync_api import expect

    base = daphne_url
    organiser = factories.user("Olivia Organiser")
    trip = factories.trip(organiser=organiser)
    traveller = factories.member(trip, "Farid Friend")
    agent = make_agent("Alex Agent")
    (traveller_context, phone), (agent_context, desk) = traveller_and_agent(
        browser, base, traveller, agent
    )
    try:
        # The traveller: "Get help" on the trip page, a question for the whole group.
        question = "Our train is cancelled, <b>what now</b>?"
        help_ask(phone, base, trip, question, visibility="group")
        case = Case.objects.get()
        assert case.visibility == "group" and case.first_response_at is None

        # The agent's inbox hears of it live, at the top of the cases waiting.
        row = inbox_case_arrives(desk, case, within_ms=SEEN_WITHIN_MS)
        expect(desk.locator("[data-care-inbox-status]")).to_contain_text(trip.title)
        desk.screenshot(path=str(screenshots / "care-inbox-1280.png"), full_page=True)

        # The agent opens it: the trip, its tickets and payments beside the conversation.
        answer = "Take the 14:02 instead: your seats are kept."
        agent_answers(desk, row, agent_name="Alex Agent", text=answer)

        # The traveller sees the answer appear, without reloading.
        answer_seen(phone, answer, within_ms=SEEN_WITHIN_MS)
        expect(desk.locator("[data-care-body]")).to_have_value("")
        phone.screenshot(path=str(screenshots / "care-conversation-360.png"), full_page=True)
        desk.screenshot(path=str(screenshots / "care-case-1280.png"), full_page=True)

        case.refresh_from_db()
        assert case.state == "answered" and case.assigned_to_id == agent.pk
        assert case.first_response_at is not None
        assert 0 <= case.first_response_seconds < 120
        assert usual_response_minutes() in (1, 2)
        # The traveller had the page open: told there, not by e-mail; the organiser, who
        # shares the case but was not on the page, gets the e-mail.
        mailed = Message.objects.filter(kind="care.staff_answered")
        assert list(mailed.values_list("recipient_id", flat=True)) == [organiser.pk]

        # … and the traveller writes back through the socket: the agent sees it live.
        phone.locator("[data-care-body]").fill("Thank you!")
        phone.locator("[data-care-send]").click()
        expect(desk.locator(".care-msg:not(.care-msg--staff) .care-msg__body").last).to_have_text(
            "Thank you!", timeout=SEEN_WITHIN_MS
        )
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        traveller_context.close()
        agent_context.close()
