"""The browser enforces the Content-Security-Policy, and the check every browser test runs
(tests/e2e/conftest.py) sees a violation when there is one."""

import pytest

from tests.e2e.conftest import CSP_VIOLATIONS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_content_from_elsewhere_is_blocked_and_reported(live_server, phone):
    phone.goto(live_server.url + "/")
    assert not CSP_VIOLATIONS
    blocked = phone.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener(
                "securitypolicyviolation", (e) => resolve(e.violatedDirective));
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.append(script);
        })"""
    )
    assert blocked.startswith("script-src")
    assert phone.evaluate("() => window.injected === undefined")
    phone.wait_for_timeout(200)  # the console message reaches the test
    assert any("script-src" in violation for violation in CSP_VIOLATIONS)
    CSP_VIOLATIONS.clear()  # expected here: the other tests must report none
