"""The Stripe gateway: the only module that imports ``stripe`` (tests/test_architecture.py).

Every call builds its own ``StripeClient`` from the settings (so a test, the sandbox or a
key rotation takes effect at once) over one shared HTTP client with our timeout; every
answer comes back as one of our small dataclasses, never a stripe object; every failure as
one of ``payments.errors``:

- ``CardDeclined`` (402): the bank said no, with a message safe to show to the payer;
- ``StripeUnavailable`` (503): no answer in time, a connection error, a 5xx or 429, or a
  key still in use by a concurrent request: try again later with the same key;
- ``IdempotencyConflict`` (409): a key reused with other parameters: a bug in our keys;
- ``StripeError`` (502): anything else Stripe refused.

**Idempotency keys.** Every write takes an explicit ``idempotency_key`` that the caller
derives from our own ids and the action, e.g. ``f"share-{share.id}-pi-{attempt}"`` or
``f"share-{share.id}-capture"``: the same write retried (after a timeout, a crash, a
worker run twice) gets Stripe's first answer back and nothing happens twice, while two
different writes never share a key (that is an ``IdempotencyConflict``). Stripe keeps keys
for at least 24 hours. The local sandbox (sandboxes/stripe_server.py) does the same.

**Manual capture.** PaymentIntents are created with ``capture_method="manual"``: a
payment authorises the card (status ``requires_capture``); the booking service captures
every share once the whole group is authorised, or cancels them (docs/payments.md).

**Calls side by side.** ``each(call, items)`` makes one call per item, up to
``SIDEBYSIDE["STRIPE_CALLS_AT_ONCE"]`` at once, on threads kept for the process (so each
keeps its connections): a confirmation checks then captures a group's PaymentIntents
together instead of one after another. The threads only wait for Stripe: the caller
reads and writes the database, before and after.

Settings: ``STRIPE_SECRET_KEY``, ``STRIPE_API_BASE`` (empty: api.stripe.com),
``STRIPE_TIMEOUT_SECONDS``, ``STRIPE_MAX_NETWORK_RETRIES``, ``STRIPE_WEBHOOK_SECRET``.
"""

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import stripe
from django.conf import settings
from django.db import connections
from django.utils.translation import gettext_lazy as _

from payments.errors import (
    CardDeclined,
    IdempotencyConflict,
    StripeError,
    StripeUnavailable,
    WebhookSignatureInvalid,
)

# How old a signed webhook may be (Stripe's own default): a replayed capture of an old
# delivery is refused even with a good signature.
WEBHOOK_TOLERANCE_SECONDS = 300
# Stripe's library refuses only signatures older than the tolerance; one dated ahead of
# our clock by more than this (clock drift between Stripe and us) is refused too, or a
# signature made "for later" would stay valid for as long as its date says.
WEBHOOK_FUTURE_TOLERANCE_SECONDS = 60

# Our messages for Stripe's card error and decline codes (docs.stripe.com/declines/codes);
# anything else is "declined". Stripe's own message is English only: kept for logs.
_DECLINE_MESSAGES = {
    "insufficient_funds": _("Your card has insufficient funds. Please try another card."),
    "expired_card": _("Your card has expired. Please try another card."),
    "incorrect_cvc": _("The card's security code is incorrect. Please check it and try again."),
    "invalid_cvc": _("The card's security code is incorrect. Please check it and try again."),
    "incorrect_number": _("The card number is incorrect. Please check it and try again."),
    "invalid_number": _("The card number is incorrect. Please check it and try again."),
    "invalid_expiry_month": _("The card's expiry date is not valid."),
    "invalid_expiry_year": _("The card's expiry date is not valid."),
    "processing_error": _("Your card could not be processed. Please try again in a moment."),
    "authentication_required": _(
        "Your bank asks you to confirm this payment. Please try again and follow your "
        "bank's instructions."
    ),
    "payment_intent_authentication_failure": _(
        "Your bank could not confirm this payment. Please try again, or use another card."
    ),
}


@dataclass(frozen=True)
class PaymentIntentView:
    """What we read of a PaymentIntent. Amounts are in the currency's minor unit."""

    id: str
    status: str  # requires_payment_method, requires_confirmation, requires_action,
    # processing, requires_capture, canceled, succeeded
    amount: int
    amount_capturable: int
    amount_received: int
    currency: str
    client_secret: str  # for Stripe.js on the payer's page only; never log it
    metadata: dict[str, str] = field(default_factory=dict)
    payment_method: str | None = None
    latest_charge: str | None = None
    last_error_code: str | None = None
    last_error_message: str | None = None  # Stripe's (English) message, for logs and staff


@dataclass(frozen=True)
class CardView:
    """What a receipt may say of a card: its brand ("visa", …) and last four digits."""

    brand: str
    last4: str


@dataclass(frozen=True)
class RefundView:
    id: str
    status: str  # pending, requires_action, succeeded, failed, canceled
    amount: int
    currency: str
    payment_intent: str | None
    charge: str | None


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook: its id (store it once), type and the object it is about."""

    id: str
    type: str
    object: dict[str, Any]
    created: int | None = None
    livemode: bool = False


# --- The client -----------------------------------------------------------------------

_http_clients: dict[float, stripe.HTTPClient] = {}
_http_clients_lock = threading.Lock()


def _http_client(timeout: float) -> stripe.HTTPClient:
    """One requests-based client per timeout, shared by every call: it keeps one
    connection pool per thread (stripe's RequestsClient), so calls reuse connections."""
    with _http_clients_lock:
        if timeout not in _http_clients:
            _http_clients[timeout] = stripe.RequestsClient(timeout=timeout)
        return _http_clients[timeout]


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise StripeError(stripe_message="STRIPE_SECRET_KEY is not set")
    base_addresses = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses=base_addresses,
        http_client=_http_client(float(settings.STRIPE_TIMEOUT_SECONDS)),
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
    )


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    with _pools_lock:
        if size not in _pools:
            _pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="stripe")
        return _pools[size]


def _on_thread[T, R](call: Callable[[T], R], item: T) -> R:
    try:
        return call(item)
    finally:
        connections.close_all()  # none is expected; if one was opened, it is not kept


def each[T, R](call: Callable[[T], R], items: Sequence[T]) -> list[tuple[T, R | Exception]]:
    """``call(item)`` for each item, up to ``STRIPE_CALLS_AT_ONCE`` at once; returns, in
    the items' order, each item that ran with its answer or the ``Exception`` it raised.
    Once a call has failed, no further call starts (those under way finish and are
    returned, the others are left out): as one after another, stopping at the first
    failure, but with several under way. Anything that is not an ``Exception`` (a kill, an
    interrupt) is raised once the calls under way have finished. ``call`` must not use the
    database: it runs on another thread, with its own connection."""
    size = settings.SIDEBYSIDE["STRIPE_CALLS_AT_ONCE"]
    if size <= 1 or len(items) <= 1:
        done: list[tuple[T, R | Exception]] = []
        for item in items:
            try:
                done.append((item, call(item)))
            except Exception as error:
                done.append((item, error))
                break
        return done
    futures: list[Future] = [_pool(size).submit(_on_thread, call, item) for item in items]
    _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    if pending:  # one failed: the calls not started yet never start
        for future in pending:
            future.cancel()
        wait([f for f in pending if not f.cancelled()])
    answers: list[tuple[T, R | Exception]] = []
    for item, future in zip(items, futures, strict=True):
        if future.cancelled():
            continue
        error = future.exception()
        if error is not None and not isinstance(error, Exception):
            raise error
        answers.append((item, error if error is not None else future.result()))
    return answers


def _options(idempotency_key: str) -> dict:
    if not idempotency_key:
        # A write without a key could happen twice on a retry: never allowed.
        raise ValueError("every Stripe write needs an idempotency key derived from our ids")
    return {"idempotency_key": idempotency_key}


def _error_translate(error: stripe.StripeError) -> StripeError:
    """Our domain error for a stripe one (raised ``from`` it by the callers)."""
    details = {
        "stripe_code": error.code or "",
        "stripe_message": error.user_message or "",
        "http_status": error.http_status,
        "request_id": error.request_id or "",
    }
    if isinstance(error, stripe.CardError):
        decline_code = getattr(error.error, "decline_code", None) or ""
        message = _DECLINE_MESSAGES.get(decline_code) or _DECLINE_MESSAGES.get(error.code or "")
        return CardDeclined(message, decline_code=decline_code, **details)
    if isinstance(error, stripe.IdempotencyError):
        return IdempotencyConflict(**details)
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return StripeUnavailable(**details)
    status = error.http_status
    if status is None or status >= 500 or status == 409:
        # 409: the same key is still running elsewhere (Stripe asks to retry).
        return StripeUnavailable(**details)
    return StripeError(**details)


def _payment_intent_view(intent: Any) -> PaymentIntentView:
    data = intent.to_dict() if hasattr(intent, "to_dict") else dict(intent)
    error = data.get("last_payment_error") or {}
    charge = data.get("latest_charge")
    payment_method = data.get("payment_method")
    return PaymentIntentView(
        id=data["id"],
        status=data["status"],
        amount=int(data["amount"]),
        amount_capturable=int(data.get("amount_capturable") or 0),
        amount_received=int(data.get("amount_received") or 0),
        currency=str(data.get("currency") or "").upper(),
        client_secret=data.get("client_secret") or "",
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        payment_method=payment_method["id"] if isinstance(payment_method, dict) else payment_method,
        latest_charge=charge["id"] if isinstance(charge, dict) else charge,
        last_error_code=error.get("decline_code") or error.get("code"),
        last_error_message=error.get("message"),
    )


# --- PaymentIntents -------------------------------------------------------------------


def payment_intent_create(
    *,
    amount_cents: int,
    currency: str,
    metadata: dict[str, str],
    idempotency_key: str,
    payment_method: str | None = None,
    customer_email: str | None = None,
) -> PaymentIntentView:
    """Create a card PaymentIntent that only authorises (``capture_method="manual"``).

    ``metadata`` carries our ids (share, trip, payer) so a webhook or ``reconcile`` can
    find the share. With ``payment_method`` (a ``pm_…`` made by Stripe.js), the intent
    waits in ``requires_confirmation``; without, in ``requires_payment_method`` until the
    payer's page confirms it with Stripe.js. ``customer_email`` becomes Stripe's
    ``receipt_email``. Card types only: the sandbox refuses automatic payment methods.
    """
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValueError("amount_cents must be a positive integer (minor units)")
    params: dict[str, Any] = {
        "amount": amount_cents,
        "currency": currency.lower(),
        "capture_method": "manual",
        "payment_method_types": ["card"],
        "metadata": metadata,
    }
    if payment_method:
        params["payment_method"] = payment_method
    if customer_email:
        params["receipt_email"] = customer_email
    try:
        intent = _client().v1.payment_intents.create(params, _options(idempotency_key))
    except stripe.StripeError as error:
        raise _error_translate(error) from error
    return _payment_intent_view(intent)


def payment_intent_retrieve(intent_id: str) -> PaymentIntentView:
    """Stripe's current view of a PaymentIntent (the truth when a webhook is unsure)."""
    try:
        intent = _client().v1.payment_intents.retrieve(intent_id)
    except stripe.StripeError as error:
        raise _error_translate(error) from error
    return _payment_intent_view(intent)


def payment_method_card(payment_method_id: str) -> CardView | None:
    """The brand and last four digits of a card PaymentMethod (``pm_…``, the one a
    PaymentIntent was authorised with); ``None`` for a method that is not a card."""
    try:
        method = _client().v1.payment_methods.retrieve(payment_method_id)
    except stripe.StripeError as error:
        raise _error_translate(error) from error
    data = method.to_dict() if hasattr(method, "to_dict") else dict(method)
    # A card PaymentMethod has them under "card"; a legacy Card (``card_…``, what a
    # Stripe.js token makes) read through this API may come as the card itself.
    card = data.get("card") or (data if data.get("object") == "card" else {})
    last4 = str(card.get("last4") or "")
    if len(last4) != 4 or not last4.isdigit():
        return None
    return CardView(brand=str(card.get("brand") or "").lower(), last4=last4)


def payment_intent_confirm(intent_id: str, *, idempotency_key: str) -> PaymentIntentView:
    """Confirm an intent that already has its payment method (set at creation): the card
    is authorised (``requires_capture``), needs 3-D Secure (``requires_action``, finished
    by Stripe.js on the payer's page), or is declined (``CardDeclined``; the intent is
    back to ``requires_payment_method``). The payer's page normally confirms through
    Stripe.js; this server-side door serves tests, benchmarks and saved cards."""
    try:
        intent = _client().v1.payment_intents.confirm(intent_id, None, _options(idempotency_key))
    except stripe.StripeError as error:
        raise _error_translate(error) from error
    return _payment_intent_view(intent)


def payment_intent_capture(
    intent_id: str, *, idempotency_key: str, amount_to_capture: int | None = None
) -> PaymentIntentView:
    """Capture an authorised intent (``requires_capture`` → ``succeeded``), all of it or
    ``amount_to_capture`` (the rest is released to the payer)."""
    params = {} if amount_to_capture is None else {"amount_to_capture": amount_to_capture}
    try:
        intent = _client().v1.payment_intents.capture(intent_id, params, _options(idempotency_key))
    except stripe.StripeError as error:
        raise _error_translate(error) from error
    return _payment_intent_view(intent)


def payment_intent_cancel(intent_id: str, *, idempotency_key: str) -> PaymentIntentView:
    """Cancel an intent not yet captured: an authorisation is released, nobody is charged."""
    try:
        intent = _client().v1.payment_intents.cancel(intent_id, None, _options(idempotency_key))
    except stripe.StripeError as error:
        raise _error_translate(error) from error
    return _payment_intent_view(intent)


# --- Refunds --------------------------------------------------------------------------


def refund_create(
    *, payment_intent_id: str, amount_cents: int | None, idempotency_key: str
) -> RefundView:
    """Refund a captured intent, all of it (``amount_cents=None``) or part of it."""
    params: dict[str, Any] = {"payment_intent": payment_intent_id}
    if amount_cents is not None:
        if not isinstance(amount_cents, int) or amount_cents <= 0:
            raise ValueError("amount_cents must be a positive integer (minor units)")
        params["amount"] = amount_cents
    try:
        refund = _client().v1.refunds.create(params, _options(idempotency_key))
    except stripe.StripeError as error:
        raise _error_translate(error) from error
    data = refund.to_dict()
    return RefundView(
        id=data["id"],
        status=data.get("status") or "",
        amount=int(data["amount"]),
        currency=str(data.get("currency") or "").upper(),
        payment_intent=data.get("payment_intent"),
        charge=data.get("charge"),
    )


# --- Webhooks -------------------------------------------------------------------------


def webhook_event_construct(payload: bytes, signature_header: str) -> WebhookEvent:
    """Verify a webhook's ``Stripe-Signature`` against ``STRIPE_WEBHOOK_SECRET`` and read
    it. Pass the request body exactly as received (bytes): any change breaks the
    signature. Raises ``WebhookSignatureInvalid`` for a forged, unsigned, too old
    (``WEBHOOK_TOLERANCE_SECONDS``), dated in the future (beyond
    ``WEBHOOK_FUTURE_TOLERANCE_SECONDS``) or unreadable one, and when no secret is
    configured (an endpoint without a secret would trust anyone)."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret or not signature_header:
        raise WebhookSignatureInvalid()
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, signature_header, secret, WEBHOOK_TOLERANCE_SECONDS
        )
        if _signature_timestamp(signature_header) > time.time() + WEBHOOK_FUTURE_TOLERANCE_SECONDS:
            raise ValueError("webhook signed in the future")
        data = json.loads(text)
        return WebhookEvent(
            id=str(data["id"]),
            type=str(data["type"]),
            object=dict(data["data"]["object"]),
            created=data.get("created"),
            livemode=bool(data.get("livemode", False)),
        )
    except (
        stripe.SignatureVerificationError,
        UnicodeDecodeError,
        ValueError,
        KeyError,
        TypeError,
    ) as error:
        raise WebhookSignatureInvalid() from error


def _signature_timestamp(signature_header: str) -> int:
    """The ``t=`` of a ``Stripe-Signature`` header (verified with the body by Stripe's
    library just before)."""
    for part in signature_header.split(","):
        key, _sep, value = part.strip().partition("=")
        if key == "t":
            return int(value)
    raise ValueError("no timestamp")
