"""Care's steps in Chromium (issue 20 point 7), shared by the browser tests that need a
traveller to ask for help and an agent to answer (tests/e2e/test_care.py, and the
disrupted trip of tests/e2e/test_disruption.py): each step waits for what the person
sees, not for time."""

SEEN_WITHIN_MS = 3_000


def help_ask(page, base: str, trip, text: str, *, visibility: str = "group") -> None:
    """The traveller: "Get help" on the trip page, a question (for the whole group or
    only them), then the conversation open and live with the question in it."""
    from playwright.sync_api import expect

    page.goto(f"{base}/trips/{trip.pk}/")
    page.locator("[data-care-help-link]").click()
    expect(page.locator("[data-care-usual]")).to_be_visible()
    page.locator(f"input[name=visibility][value={visibility}]").check()
    page.locator("#care-open-body").fill(text)
    page.locator("[data-care-open] button[type=submit]").click()
    expect(page.locator("[data-care-conn]")).to_have_attribute("data-state", "live")
    expect(page.locator(".care-msg__body")).to_have_text(text)


def inbox_case_arrives(desk, case, *, within_ms: int = SEEN_WITHIN_MS):
    """The agent's open inbox hears of the new case live, waiting for an answer. Returns
    its row."""
    from playwright.sync_api import expect

    row = desk.locator(f'[data-inbox-case="{case.pk}"]')
    expect(row).to_be_visible(timeout=within_ms)
    expect(row).to_have_attribute("data-state", "open")
    return row


def agent_answers(desk, row, *, agent_name: str, text: str) -> None:
    """The agent opens the case (the trip's tickets and payments beside it), takes it,
    and answers."""
    from playwright.sync_api import expect

    row.locator("a").click()
    expect(desk.locator("[data-care-tickets]")).to_be_visible()
    expect(desk.locator("[data-care-payments]")).to_be_visible()
    expect(desk.locator("[data-care-conn]")).to_have_attribute("data-state", "live")
    desk.locator("[data-care-assign]").click()
    expect(desk.locator("[data-care-assigned]")).to_contain_text(agent_name)
    expect(desk.locator("[data-care-conn]")).to_have_attribute("data-state", "live")
    desk.locator("[data-care-body]").fill(text)
    desk.locator("[data-care-send]").click()


def answer_seen(page, text: str, *, within_ms: int = SEEN_WITHIN_MS) -> None:
    """The traveller sees the agent's answer appear without reloading; the case is
    answered."""
    from playwright.sync_api import expect

    answer = page.locator(".care-msg--staff .care-msg__body")
    expect(answer).to_have_text(text, timeout=within_ms)
    expect(page.locator("[data-care-state]")).to_have_attribute("data-care-state", "answered")


def traveller_and_agent(browser, base: str, traveller, agent):
    """The traveller on a phone, the agent at a desk with the inbox open (empty). Returns
    ((traveller's context, phone), (agent's context, desk)); the caller closes both."""
    from playwright.sync_api import expect

    from tests.e2e.conftest import DESKTOP, PHONE
    from tests.e2e.test_live_plan import _browser_as

    traveller_context, phone = _browser_as(browser, base, traveller, viewport=PHONE, mobile=True)
    agent_context, desk = _browser_as(browser, base, agent, viewport=DESKTOP)
    desk.goto(f"{base}/care/inbox/")
    expect(desk.locator("[data-care-inbox-empty]")).to_be_visible()
    return (traveller_context, phone), (agent_context, desk)
