"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Playwright's sync API runs an asyncio event loop in the test's thread, which makes Django
refuse database calls from that thread ("async unsafe") although they are plain sync
calls made by the test itself; this variable lets them through. It is set here only, for
the browser tests.

Every browser context of every test reports Content-Security-Policy violations (the page's
``securitypolicyviolation`` events and Chromium's own console messages): a test during
which one was reported fails, so the policy (docs/security.md) is proven to let every page
work as it is.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"

# Violations reported by any page since the current test started.
CSP_VIOLATIONS: list[str] = []
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.violatedDirective} blocked `
    + `${event.blockedURI || "inline"} in ${event.sourceFile || event.documentURI}`);
});
"""


def _on_console(message) -> None:
    if "Content Security Policy" in message.text:
        CSP_VIOLATIONS.append(f"{message.location.get('url', '')}: {message.text}")


class _ReportingBrowser:
    """The browser, whose every new context reports CSP violations into CSP_VIOLATIONS."""

    def __init__(self, browser):
        self._browser = browser

    def __getattr__(self, name):
        return getattr(self._browser, name)

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        context.add_init_script(_REPORT_VIOLATIONS)
        context.on("console", _on_console)
        return context


@pytest.fixture(autouse=True)
def no_csp_violation():
    CSP_VIOLATIONS.clear()
    yield
    violations, CSP_VIOLATIONS[:] = list(CSP_VIOLATIONS), []
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


PHONE = {"width": 360, "height": 740}
# Facebook's in-app browser on an iPhone: where most friends open a shared trip.
FACEBOOK_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/450.0.0.38.108;FBBV/500000000;FBDV/iPhone14,5;"
    "FBMD/iPhone;FBSN/iOS;FBSV/17.0;FBSS/3;FBCR/;FBID/phone;FBLC/fr_FR;FBOP/5]"
)
DESKTOP = {"width": 1280, "height": 800}
# The browser's clock runs in our users' time zone, as Django's does (settings.TIME_ZONE),
# so "today" in the date picker and on the server is the same day at any hour.
TIME_ZONE = "Europe/Paris"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's Chromium is not installed at /usr/bin/chromium (apt install chromium)"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield _ReportingBrowser(browser)
        browser.close()


@pytest.fixture
def phone(browser):
    """A phone-sized page, touch enabled, as in Facebook's in-app browser."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="fr-FR",
        timezone_id=TIME_ZONE,
    )
    page = context.new_page()
    page.set_default_timeout(5_000)
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id=TIME_ZONE)
    page = context.new_page()
    page.set_default_timeout(5_000)
    yield page
    context.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def payments_worker():
    """The worker beside the live server, as ``manage.py serve`` starts it, for the work
    that runs off the request (``payments.tasks``: webhook events, confirmations).

    On PostgreSQL its jobs run every 0.2 s in a thread with its own connection until the
    test ends. SQLite's in-memory test database is one connection, which two threads may
    not use at once (the live server's thread already shares it with the test): there the
    test calls ``run_once()`` itself at a quiet moment. ``run_once()`` is harmless beside
    the thread (rows are claimed with ``skip_locked``)."""
    import logging
    import threading
    from types import SimpleNamespace

    from django.db import connections

    from core import jobs

    names = {"stripe_events", "payment_confirmations"}
    due = [job for job in jobs.registered() if job.name in names]

    def run_once() -> None:
        for job in due:
            try:
                job.func()
            except Exception:  # as the worker: logged, tried again next turn
                logging.getLogger(__name__).exception("job %s failed", job.name)

    main = connections["default"]
    threaded = not (main.vendor == "sqlite" and main.is_in_memory_db())
    stop = threading.Event()

    def loop():
        try:
            while not stop.is_set():
                run_once()
                stop.wait(0.2)
        finally:
            connections["default"].close()

    thread = threading.Thread(target=loop, name="payments-worker", daemon=True)
    if threaded:
        thread.start()
    yield SimpleNamespace(run_once=run_once)
    stop.set()
    if threaded:
        thread.join(timeout=30)


def log_in(context, base: str, user) -> None:
    """Give a browser context ``user``'s session (made by Django's test client), so the
    pages it opens are that person's."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])


def facebook_phone(browser, base: str, user=None, *, language: str = "en", timeout_ms=10_000):
    """A phone at 360x740 in Facebook's in-app browser reading ``language`` ("en" or "fr":
    its locale, Accept-Language and language cookie), logged in as ``user`` if given.
    Returns (context, page)."""
    from django.conf import settings

    locale = "fr-FR" if language == "fr" else "en-GB"
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=locale,
        timezone_id=TIME_ZONE,
        user_agent=FACEBOOK_UA,
        extra_http_headers={"Accept-Language": locale},
    )
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}])
    if user is not None:
        log_in(context, base, user)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    return context, page
