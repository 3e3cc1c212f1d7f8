"""payments/stripe_gateway.py against the real localstripe, through our idempotency layer
(sandboxes/stripe_server.py), over loopback HTTP: no mock of the stripe library."""

import hashlib
import hmac
import json
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import translation

from payments import stripe_gateway as gateway
from payments.errors import (
    CardDeclined,
    IdempotencyConflict,
    StripeError,
    StripeUnavailable,
    WebhookSignatureInvalid,
)
from sandboxes.stripe_server import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_DECLINED_AT_CHARGE,
    StripeSandbox,
)


def _create(sandbox, key, *, card=None, amount=2500, marker="", **extra):
    return gateway.payment_intent_create(
        amount_cents=amount,
        currency="EUR",
        metadata={"share": "41", "trip": "7", "marker": marker or key},
        idempotency_key=key,
        payment_method=sandbox.card_payment_method(card) if card else None,
        **extra,
    )


def _authorised(sandbox, new_key, amount=2500):
    intent = _create(sandbox, new_key("create"), card="4242424242424242", amount=amount)
    return gateway.payment_intent_confirm(intent.id, idempotency_key=new_key("confirm"))


# --- PaymentIntents -------------------------------------------------------------------


def test_an_intent_without_a_card_waits_for_one_and_only_authorises(
    stripe_sandbox, idempotency_key_new
):
    intent = _create(stripe_sandbox, idempotency_key_new("create"), customer_email="a@example.test")

    assert intent.status == "requires_payment_method"
    assert (intent.amount, intent.currency) == (2500, "EUR")
    assert intent.metadata["share"] == "41"
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    status, raw = stripe_sandbox.request("GET", f"/v1/payment_intents/{intent.id}")
    assert status == 200
    assert raw["capture_method"] == "manual"


def test_a_card_authorised_then_captured(stripe_sandbox, idempotency_key_new):
    intent = _create(stripe_sandbox, idempotency_key_new("create"), card="4242424242424242")
    assert intent.status == "requires_confirmation"

    authorised = gateway.payment_intent_confirm(intent.id, idempotency_key=idempotency_key_new("c"))
    assert authorised.status == "requires_capture"
    assert (authorised.amount_capturable, authorised.amount_received) == (2500, 0)

    captured = gateway.payment_intent_capture(intent.id, idempotency_key=idempotency_key_new("k"))
    assert captured.status == "succeeded"
    assert (captured.amount_capturable, captured.amount_received) == (0, 2500)
    assert gateway.payment_intent_retrieve(intent.id).status == "succeeded"


def test_a_partial_capture_receives_only_that_amount(stripe_sandbox, idempotency_key_new):
    intent = _authorised(stripe_sandbox, idempotency_key_new)

    captured = gateway.payment_intent_capture(
        intent.id, idempotency_key=idempotency_key_new("capture"), amount_to_capture=1800
    )

    assert captured.status == "succeeded"
    assert captured.amount_received == 1800


def test_cancel_releases_an_authorisation(stripe_sandbox, idempotency_key_new):
    intent = _authorised(stripe_sandbox, idempotency_key_new)

    canceled = gateway.payment_intent_cancel(intent.id, idempotency_key=idempotency_key_new("x"))

    assert canceled.status == "canceled"
    assert canceled.amount_capturable == 0
    with pytest.raises(StripeError):  # nothing left to capture
        gateway.payment_intent_capture(intent.id, idempotency_key=idempotency_key_new("k"))


def test_refunds_whole_and_partial(stripe_sandbox, idempotency_key_new):
    intent = _authorised(stripe_sandbox, idempotency_key_new, amount=4000)
    gateway.payment_intent_capture(intent.id, idempotency_key=idempotency_key_new("capture"))

    part = gateway.refund_create(
        payment_intent_id=intent.id, amount_cents=1500, idempotency_key=idempotency_key_new("r1")
    )
    rest = gateway.refund_create(
        payment_intent_id=intent.id, amount_cents=None, idempotency_key=idempotency_key_new("r2")
    )

    assert (part.status, part.amount, part.payment_intent) == ("succeeded", 1500, intent.id)
    assert part.charge and part.currency == "EUR"
    assert rest.status == "succeeded"
    status, charge = stripe_sandbox.request("GET", f"/v1/charges/{part.charge}")
    assert status == 200
    assert charge["amount_refunded"] >= 1500


@pytest.mark.parametrize("card", [CARD_DECLINED, CARD_DECLINED_AT_CHARGE])
def test_a_declined_card_is_card_declined_with_a_message(card, stripe_sandbox, idempotency_key_new):
    intent = _create(stripe_sandbox, idempotency_key_new("create"), card=card)

    with pytest.raises(CardDeclined) as declined, translation.override("en"):
        gateway.payment_intent_confirm(intent.id, idempotency_key=idempotency_key_new("confirm"))

    assert declined.value.status == 402
    with translation.override("en"):
        assert "declined" in str(declined.value.message)
    assert declined.value.stripe_code == "card_declined"
    after = gateway.payment_intent_retrieve(intent.id)
    assert after.status == "requires_payment_method"  # the payer may try another card
    assert after.last_error_message
    assert after.amount_capturable == 0


def test_a_3d_secure_card_needs_the_payers_action(stripe_sandbox, idempotency_key_new):
    intent = _create(stripe_sandbox, idempotency_key_new("create"), card=CARD_3DS)

    confirmed = gateway.payment_intent_confirm(intent.id, idempotency_key=idempotency_key_new("c"))

    assert confirmed.status == "requires_action"


def test_a_write_without_an_idempotency_key_is_refused_before_stripe(stripe_sandbox):
    with pytest.raises(ValueError, match="idempotency key"):
        gateway.payment_intent_create(
            amount_cents=100, currency="EUR", metadata={}, idempotency_key=""
        )


def test_an_unknown_intent_is_a_stripe_error(stripe_sandbox, idempotency_key_new):
    with pytest.raises(StripeError) as failed:
        gateway.payment_intent_capture("pi_doesnotexist", idempotency_key=idempotency_key_new("k"))

    assert type(failed.value) is StripeError
    assert (failed.value.status, failed.value.http_status) == (502, 404)


def test_stripe_out_of_reach_is_unavailable(settings, stripe_sandbox):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{port}"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    with pytest.raises(StripeUnavailable) as failed:
        gateway.payment_intent_retrieve("pi_whatever")

    assert failed.value.status == 503


# --- Idempotency (our layer in front of localstripe) ----------------------------------


def test_the_same_key_twice_creates_one_intent(stripe_sandbox, idempotency_key_new):
    key = idempotency_key_new("create")

    first = _create(stripe_sandbox, key, marker=key)
    again = _create(stripe_sandbox, key, marker=key)

    assert again.id == first.id
    assert again.client_secret == first.client_secret
    mine = [pi for pi in stripe_sandbox.payment_intents() if pi["metadata"].get("marker") == key]
    assert [pi["id"] for pi in mine] == [first.id]


def test_the_same_key_with_other_parameters_is_a_conflict(stripe_sandbox, idempotency_key_new):
    key = idempotency_key_new("create")
    _create(stripe_sandbox, key, amount=2500, marker=key)

    with pytest.raises(IdempotencyConflict) as conflict:
        _create(stripe_sandbox, key, amount=2600, marker=key)

    assert conflict.value.status == 409
    mine = [pi for pi in stripe_sandbox.payment_intents() if pi["metadata"].get("marker") == key]
    assert len(mine) == 1


def test_a_repeated_confirm_and_capture_replay_instead_of_failing(
    stripe_sandbox, idempotency_key_new
):
    """localstripe alone answers 400 to a second confirm or capture (wrong status)."""
    intent = _create(stripe_sandbox, idempotency_key_new("create"), card="4242424242424242")
    confirm_key, capture_key = idempotency_key_new("confirm"), idempotency_key_new("capture")

    gateway.payment_intent_confirm(intent.id, idempotency_key=confirm_key)
    again = gateway.payment_intent_confirm(intent.id, idempotency_key=confirm_key)
    assert again.status == "requires_capture"  # the first answer, replayed

    captured = gateway.payment_intent_capture(intent.id, idempotency_key=capture_key)
    replay = gateway.payment_intent_capture(intent.id, idempotency_key=capture_key)
    assert (captured.status, replay.status) == ("succeeded", "succeeded")
    assert replay.latest_charge == captured.latest_charge


def test_a_declined_answer_is_replayed_too(stripe_sandbox, idempotency_key_new):
    intent = _create(stripe_sandbox, idempotency_key_new("create"), card=CARD_DECLINED)
    key = idempotency_key_new("confirm")

    for _ in range(2):
        with pytest.raises(CardDeclined):
            gateway.payment_intent_confirm(intent.id, idempotency_key=key)


def test_a_request_refused_by_validation_keeps_its_key_free(stripe_sandbox, idempotency_key_new):
    key = idempotency_key_new("create")
    status, _body = stripe_sandbox.request(
        "POST", "/v1/payment_intents", {"amount": "-5", "currency": "eur"}, idempotency_key=key
    )
    assert status == 400

    intent = _create(stripe_sandbox, key)

    assert intent.status == "requires_payment_method"


def test_replays_say_so_and_flush_forgets_keys(idempotency_key_new):
    with StripeSandbox() as sandbox:  # its own: flush() must not touch the shared one
        key = idempotency_key_new("create")
        params = {"amount": "900", "currency": "eur", "capture_method": "manual"}
        _, first = sandbox.request("POST", "/v1/payment_intents", params, idempotency_key=key)
        _, again = sandbox.request("POST", "/v1/payment_intents", params, idempotency_key=key)
        assert again == first
        sandbox.flush()
        _, after = sandbox.request("POST", "/v1/payment_intents", params, idempotency_key=key)
        assert after["id"] != first["id"]
        assert [pi["id"] for pi in sandbox.payment_intents()] == [after["id"]]
    assert not sandbox.running


# --- Webhooks -------------------------------------------------------------------------


def _signed(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _event_payload(event_id="evt_test_1", type_="payment_intent.succeeded") -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "type": type_,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": "pi_123", "object": "payment_intent", "status": "succeeded"}},
    }
    return json.dumps(body).encode()


def test_a_webhook_signed_with_our_secret_is_read(stripe_sandbox):
    payload = _event_payload()

    event = gateway.webhook_event_construct(
        payload, _signed(payload, stripe_sandbox.webhook_secret)
    )

    assert (event.id, event.type) == ("evt_test_1", "payment_intent.succeeded")
    assert event.object["id"] == "pi_123"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda payload, secret: _signed(payload, "whsec_someone_else"), id="other"),
        pytest.param(lambda payload, secret: "", id="unsigned"),
        pytest.param(lambda payload, secret: "t=1,v1=deadbeef", id="garbage"),
        pytest.param(
            lambda payload, secret: _signed(payload, secret, int(time.time()) - 3600), id="old"
        ),
        pytest.param(
            lambda payload, secret: _signed(payload.replace(b"succeeded", b"canceled"), secret),
            id="tampered",
        ),
    ],
)
def test_a_forged_or_unsigned_webhook_is_refused(forge, stripe_sandbox):
    payload = _event_payload()

    with pytest.raises(WebhookSignatureInvalid) as refused:
        gateway.webhook_event_construct(payload, forge(payload, stripe_sandbox.webhook_secret))

    assert refused.value.status == 400


def test_no_webhook_secret_configured_trusts_nothing(settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    payload = _event_payload()

    with pytest.raises(WebhookSignatureInvalid):
        gateway.webhook_event_construct(payload, _signed(payload, ""))


class _Receiver:
    """A tiny HTTP endpoint on loopback that keeps what localstripe delivers."""

    def __init__(self):
        self.deliveries: queue.Queue[tuple[bytes, str]] = queue.Queue()
        deliveries = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                deliveries.put((body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/payments/stripe/webhook/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events_until(self, wanted: str, object_id: str, timeout: float = 10.0):
        """Every verified event received until one of type ``wanted`` about ``object_id``
        (or the timeout). Events of other tests' objects may arrive too: localstripe
        sends each a second after it happens, to every endpoint registered by then."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                payload, signature = self.deliveries.get(timeout=0.2)
            except queue.Empty:
                continue
            event = gateway.webhook_event_construct(payload, signature)
            seen.append(event)
            if event.type == wanted and event.object.get("id") == object_id:
                break
        return seen

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_localstripe_delivers_signed_events_that_we_verify(stripe_sandbox, idempotency_key_new):
    receiver = _Receiver()
    try:
        stripe_sandbox.webhook_register(
            receiver.url,
            events=["payment_intent.amount_capturable_updated", "payment_intent.succeeded"],
            id="gateway-test",
        )
        intent = _authorised(stripe_sandbox, idempotency_key_new)
        authorised = receiver.events_until("payment_intent.amount_capturable_updated", intent.id)
        gateway.payment_intent_capture(intent.id, idempotency_key=idempotency_key_new("k"))
        succeeded = receiver.events_until("payment_intent.succeeded", intent.id)
    finally:
        # Deliveries to a closed receiver only log a failure in the sandbox.
        stripe_sandbox.webhook_register("http://127.0.0.1:9/", events=[], id="gateway-test")
        receiver.close()

    authorised = [e for e in authorised if e.object["id"] == intent.id]
    assert [e.type for e in authorised] == ["payment_intent.amount_capturable_updated"]
    assert authorised[0].object["status"] == "requires_capture"
    assert authorised[0].object["metadata"]["share"] == "41"
    succeeded = [e for e in succeeded if e.object["id"] == intent.id]
    assert [e.type for e in succeeded] == ["payment_intent.succeeded"]
    assert succeeded[0].id.startswith("evt_")
