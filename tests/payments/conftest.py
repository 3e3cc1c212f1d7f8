"""The Stripe sandbox (localstripe behind our idempotency layer, sandboxes/stripe_server.py)
started once per test session on a free loopback port, and the settings pointing at it.

Tests share the sandbox: each makes its own objects, with its own idempotency keys
(``idempotency_key_new``), and finds them by id or metadata, never by counting everything.
"""

import uuid

import pytest

from sandboxes.stripe_server import StripeSandbox


@pytest.fixture(scope="session")
def stripe_sandbox_process():
    sandbox = StripeSandbox().start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def stripe_sandbox(stripe_sandbox_process, settings):
    """The running sandbox, with STRIPE_API_BASE, the keys and the webhook secret set."""
    assert stripe_sandbox_process.running, "the Stripe sandbox died during the run"
    for name, value in stripe_sandbox_process.settings().items():
        setattr(settings, name, value)
    settings.STRIPE_TIMEOUT_SECONDS = 5.0
    return stripe_sandbox_process


@pytest.fixture
def idempotency_key_new():
    """Keys as the services derive them from our ids, unique per test run."""
    run = uuid.uuid4().hex[:12]
    return lambda action: f"test-{run}-{action}"


def tasks_run() -> int:
    """One pass of what the worker runs off the request (``payments.tasks``): the stored
    webhook events, then the queued confirmations. Returns how many tasks ran."""
    from payments import tasks

    return tasks.stripe_events_handle() + tasks.checkout_confirmations()
