"""A Stripe sandbox on loopback: ``localstripe`` plus the few things of Stripe it lacks.

``localstripe`` (PyPI, 1.15.x) is a real HTTP server that plays Stripe's API, its test cards
and a Stripe.js mock (``/js.stripe.com/v3/``), and signs webhooks like Stripe. It is run
here in a child process (its store is a module global: one store per process), on
127.0.0.1 only, with a thin layer in front of its handlers that adds what our payments
rely on and localstripe does not do:

- **idempotency**: localstripe ignores ``Idempotency-Key``. Like Stripe, the layer keeps,
  per API key and idempotency key, the request's fingerprint (method, path, parameters)
  and the first answer: a repeated key with the same request gets that answer again
  (header ``Idempotent-Replayed: true``) and nothing runs twice; the same key with other
  parameters or another endpoint gets 400 ``idempotency_error``; the same key while its
  first request is still running gets 409 ``idempotency_key_in_use`` (Stripe-Should-Retry).
  As on Stripe, only answers of requests that ran are kept (2xx, and 402 card errors);
  a request refused by validation may be retried with the same key.
  Kept in memory per server; ``DELETE /_config/data`` forgets them with the store.
- **fidelity fixes**: PaymentIntents carry ``amount_capturable`` and ``amount_received``;
  the cards localstripe declines only when attached to a customer (4000000000000002 and
  the other "declined" test cards) are declined when charged too, as on Stripe;
  ``receipt_email`` is accepted (and dropped); the store is never written to
  ``/tmp/localstripe.pickle`` (localstripe does that on every write, shared by every
  instance on the machine, and it slows down as the store grows).

Everything else (the API, ``/js.stripe.com/v3/``, ``/_config/webhooks/{id}``) is
localstripe's own, unchanged.

Use it from Python (tests, benchmarks)::

    with StripeSandbox() as sandbox:  # or sandbox = StripeSandbox().start(); …; .stop()
        settings.STRIPE_API_BASE = sandbox.api_base  # see sandbox.settings()

or alone: ``python -m sandboxes.stripe_server --port 8420`` prints the settings
(``STRIPE_API_BASE=…`` lines) once it listens; ``manage.py serve`` runs it that way.
"""

import argparse
import asyncio
import atexit
import base64
import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self
from urllib.parse import parse_qsl, urlencode

from core.announced import announced_values
from sandboxes.lifetime import parent_alive

ROOT = Path(__file__).resolve().parents[1]
# localstripe accepts any key that starts with sk_ (pk_ for Stripe.js calls).
SANDBOX_SECRET_KEY = "sk_test_sidebyside_sandbox"
SANDBOX_PUBLISHABLE_KEY = "pk_test_sidebyside_sandbox"
# What main() prints once it listens, one NAME=value a line (read by StripeSandbox and serve).
SANDBOX_VARIABLES = (
    "STRIPE_API_BASE",
    "STRIPE_JS_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
)
START_TIMEOUT_SECONDS = 20
# Test cards (https://docs.stripe.com/testing).
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_DECLINED_AT_CHARGE = "4000000000000341"
CARD_3DS = "4000002760003184"


# --- The server (runs in the child process) --------------------------------------------


def _request_fingerprint(method: str, path: str, content_type: str, body: bytes) -> str:
    """The request as Stripe compares it for a reused key: endpoint and parameters, in
    any order; never the headers (stripe-python's telemetry header changes each call)."""
    if content_type == "application/x-www-form-urlencoded" or not body:
        params: object = sorted(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    else:
        try:
            params = json.loads(body)
        except ValueError:
            params = base64.b64encode(body).decode("ascii")
    canonical = json.dumps([method, path, params], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stripe_error(status: int, type_: str, code: str, message: str, **headers):
    from aiohttp import web

    body = {"error": {"type": type_, "code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def _idempotency_middleware_make():
    from aiohttp import web
    from localstripe.server import get_api_key

    # (api key, idempotency key) → (fingerprint, status, body, content type), or None while
    # the first request with that key runs.
    answers: dict[tuple[str, str], tuple[str, int, bytes, str] | None] = {}

    @web.middleware
    async def idempotency(request, handler):
        if request.method == "DELETE" and request.path == "/_config/data":
            answers.clear()
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)  # Stripe ignores keys on GET and DELETE
        body = await request.read()  # aiohttp keeps it for localstripe's own read
        fingerprint = _request_fingerprint(request.method, request.path, request.content_type, body)
        scope = (get_api_key(request) or "", key)
        if scope in answers:
            kept = answers[scope]
            if kept is None:
                return _stripe_error(
                    409,
                    "invalid_request_error",
                    "idempotency_key_in_use",
                    "There is currently another in-progress request using this "
                    f"Idempotent Key (that probably means you submitted twice): {key}.",
                    **{"Stripe-Should-Retry": "true"},
                )
            kept_fingerprint, status, kept_body, content_type = kept
            if kept_fingerprint != fingerprint:
                return _stripe_error(
                    400,
                    "idempotency_error",
                    "idempotency_key_reused",
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                )
            return web.Response(
                body=kept_body,
                status=status,
                content_type=content_type,
                headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
            )
        answers[scope] = None
        try:
            response = await handler(request)
        except BaseException:
            del answers[scope]
            raise
        if 200 <= response.status < 300 or response.status == 402:
            answers[scope] = (fingerprint, response.status, response.body, response.content_type)
        else:
            del answers[scope]  # refused before it ran: the key may be used again
        response.headers["Idempotency-Key"] = key
        return response

    return idempotency


def _receipt_email_middleware_make():
    """localstripe refuses ``receipt_email`` (Stripe accepts it and, in live mode only,
    mails a receipt): drop it from PaymentIntent writes before localstripe reads them."""
    from aiohttp import web

    @web.middleware
    async def receipt_email(request, handler):
        if request.method == "POST" and request.path.startswith("/v1/payment_intents"):
            body = await request.read()
            if b"receipt_email" in body and request.content_type.endswith("urlencoded"):
                pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
                kept = [(k, v) for k, v in pairs if k != "receipt_email"]
                # aiohttp serves later reads from this cache (localstripe's post()).
                request._read_bytes = urlencode(kept).encode()
        return await handler(request)

    return receipt_email


def _localstripe_patch() -> None:
    """The fidelity fixes listed in the module docstring, applied to localstripe's classes."""
    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None

    payment_method = resources.PaymentMethod
    charging_is_declined = payment_method._charging_is_declined

    def charging_is_declined_as_stripe(self):
        return charging_is_declined(self) or payment_method._attaching_is_declined(self)

    payment_method._charging_is_declined = charging_is_declined_as_stripe

    charge = resources.Charge
    capture = charge._capture

    def capture_recorded(self, amount, on_success=None):
        self._amount_to_capture = resources.try_convert_to_int(amount)
        return capture(self, amount, on_success=on_success)

    charge._capture = capture_recorded

    def amount_capturable(self):
        return self.latest_charge.amount if self.status == "requires_capture" else 0

    def amount_received(self):
        charge_ = self.latest_charge
        if charge_ is None or not charge_.captured:
            return 0
        captured = getattr(charge_, "_amount_to_capture", None)
        return charge_.amount if captured is None else captured

    intent = resources.PaymentIntent
    intent.amount_capturable = property(amount_capturable)
    intent.amount_received = property(amount_received)

    # The events Stripe sends and localstripe does not (it only sends .succeeded, at
    # capture, and .payment_failed): an authorisation, a cancellation, an API refund.
    from localstripe.webhooks import schedule_webhook

    create_charge = intent._create_charge

    def create_charge_announced(self, on_failure_now):
        create_charge(self, on_failure_now)
        if self.status == "requires_capture":
            schedule_webhook(resources.Event("payment_intent.amount_capturable_updated", self))

    intent._create_charge = create_charge_announced

    api_cancel = intent._api_cancel.__func__

    def api_cancel_announced(cls, id, **kwargs):
        obj = api_cancel(cls, id, **kwargs)
        schedule_webhook(resources.Event("payment_intent.canceled", obj))
        return obj

    intent._api_cancel = classmethod(api_cancel_announced)

    api_capture = intent._api_capture.__func__

    def api_capture_checked(cls, id, **kwargs):
        # localstripe captures a canceled intent's charge; Stripe refuses.
        obj = cls._api_retrieve(id) if isinstance(id, str) and id.startswith("pi_") else None
        if obj is not None and obj.status != "requires_capture":
            raise resources.UserError(
                400,
                "This PaymentIntent could not be captured because it has a status of "
                f"{obj.status}. Only a PaymentIntent with one of the following statuses may "
                "be captured: requires_capture.",
                {"code": "payment_intent_unexpected_state"},
            )
        return api_capture(cls, id, **kwargs)

    intent._api_capture = classmethod(api_capture_checked)
    patched = {"/cancel": intent._api_cancel, "/capture": intent._api_capture}
    # Its route was registered with the original method: point it at the new one.
    resources.extra_apis[:] = [
        (method, url, patched.get(url.removeprefix("/v1/payment_intents/{id}"), func))
        for method, url, func in resources.extra_apis
    ]

    refund_create = resources.Refund._api_create.__func__

    def refund_create_announced(cls, **data):
        refund = refund_create(cls, **data)
        schedule_webhook(
            resources.Event("charge.refunded", resources.Charge._api_retrieve(refund.charge))
        )
        return refund

    resources.Refund._api_create = classmethod(refund_create_announced)


def app_build(*, webhook_url: str = "", webhook_secret: str = ""):
    """localstripe's aiohttp application with our layer in front (one per process)."""
    _localstripe_patch()
    from localstripe.server import app
    from localstripe.webhooks import register_webhook

    # Outermost first: idempotency sees the final answer, errors included.
    app.middlewares.insert(0, _receipt_email_middleware_make())
    app.middlewares.insert(0, _idempotency_middleware_make())
    if webhook_url:
        register_webhook("sidebyside", webhook_url, webhook_secret, None)
    return app


async def _serve(args, sock: socket.socket, values: dict[str, str]) -> None:
    from aiohttp import web

    app = app_build(webhook_url=args.webhook_url, webhook_secret=values["STRIPE_WEBHOOK_SECRET"])
    runner = web.AppRunner(app, access_log=None if not args.verbose else web.access_logger)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    for name in SANDBOX_VARIABLES:
        print(f"{name}={values[name]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        while not stop.is_set():
            # An orphan stops by itself: no sandbox outlives the test run that started it.
            if args.parent_pid and not parent_alive(args.parent_pid):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Stripe sandbox: localstripe on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--webhook-url", default="", help="deliver every event there, signed")
    parser.add_argument("--webhook-secret", default="", help="default: a new whsec_ each run")
    parser.add_argument("--parent-pid", type=int, default=0, help="stop when it exits")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    base = f"http://{host}:{port}"
    values = {
        "STRIPE_API_BASE": base,
        "STRIPE_JS_URL": f"{base}/js.stripe.com/v3/",
        "STRIPE_SECRET_KEY": SANDBOX_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": SANDBOX_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": args.webhook_secret or f"whsec_{secrets.token_hex(16)}",
    }
    asyncio.run(_serve(args, sock, values))


# --- The handle (runs in the test, benchmark or run command) ----------------------------


class StripeSandboxError(RuntimeError):
    pass


class StripeSandbox:
    """Starts and stops one sandbox (a child process) and talks to it over plain HTTP.

    ``start()`` returns once the server listens; ``stop()`` (also at interpreter exit, and
    by itself if this process dies) ends it. The helpers below (test cards, webhooks,
    listing) use plain HTTP, not the ``stripe`` library: only payments/stripe_gateway.py
    imports that.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str = "",
        webhook_secret: str = "",
        verbose: bool = False,
    ):
        self.host, self.port = host, port
        self.webhook_url, self._webhook_secret = webhook_url, webhook_secret
        self.verbose = verbose
        self.values: dict[str, str] = {}
        self._process: subprocess.Popen | None = None

    # Settings the gateway reads, ready for override_settings / pytest-django's settings.
    def settings(self) -> dict[str, object]:
        return {
            "STRIPE_API_BASE": self.api_base,
            "STRIPE_JS_URL": self.js_url,
            "STRIPE_SECRET_KEY": self.secret_key,
            "STRIPE_PUBLISHABLE_KEY": self.publishable_key,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_SANDBOX": True,
        }

    @property
    def api_base(self) -> str:
        return self._value("STRIPE_API_BASE")

    @property
    def js_url(self) -> str:
        return self._value("STRIPE_JS_URL")

    @property
    def secret_key(self) -> str:
        return self._value("STRIPE_SECRET_KEY")

    @property
    def publishable_key(self) -> str:
        return self._value("STRIPE_PUBLISHABLE_KEY")

    @property
    def webhook_secret(self) -> str:
        return self._value("STRIPE_WEBHOOK_SECRET")

    def _value(self, name: str) -> str:
        if name not in self.values:
            raise StripeSandboxError("the Stripe sandbox is not running: call start() first")
        return self.values[name]

    def start(self) -> Self:
        if self._process is not None:
            return self
        command = [
            sys.executable,
            "-m",
            "sandboxes.stripe_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--parent-pid",
            str(os.getpid()),
        ]
        if self.webhook_url:
            command += ["--webhook-url", self.webhook_url]
        if self._webhook_secret:
            command += ["--webhook-secret", self._webhook_secret]
        if self.verbose:
            command.append("--verbose")
        self._process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
        atexit.register(self.stop)
        try:
            self.values = sandbox_values_read(self._process, SANDBOX_VARIABLES)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        self.values = {}
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            process.stdout.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- Plain-HTTP helpers ---------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: dict | list | None = None,
        *,
        idempotency_key: str = "",
        json_body: dict | None = None,
    ) -> tuple[int, dict]:
        """One call to the sandbox as a server would make it: (status, JSON body)."""
        url = self.api_base + path
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif params is not None and method in ("POST", "DELETE"):
            data = urlencode(params).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif params:
            url += "?" + urlencode(params)
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        return status, (json.loads(raw) if raw.strip() else {})

    def card_payment_method(self, number: str = CARD_OK) -> str:
        """A card PaymentMethod (what Stripe.js makes in the browser); returns its id.

        Real Stripe refuses raw card numbers from a server: this is for the sandbox only.
        """
        status, body = self.request(
            "POST",
            "/v1/payment_methods",
            {
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": str(time.gmtime().tm_year + 3),
                "card[cvc]": "123",
            },
        )
        if status != 200:
            raise StripeSandboxError(f"payment method refused: {status} {body}")
        return body["id"]

    def webhook_register(
        self, url: str, *, secret: str = "", events: list[str] | None = None, id: str = "test"
    ) -> None:
        """Have localstripe POST every event (or only ``events``) to ``url``, signed with
        ``secret`` (default: this sandbox's webhook secret) like Stripe does."""
        body: dict = {"url": url, "secret": secret or self.webhook_secret}
        if events is not None:
            body["events"] = events
        status, answer = self.request("POST", f"/_config/webhooks/{id}", json_body=body)
        if status != 200:
            raise StripeSandboxError(f"webhook not registered: {status} {answer}")

    def payment_intents(self) -> list[dict]:
        """Every PaymentIntent in the sandbox, page after page (a test session makes
        more than one page of 100)."""
        intents: list[dict] = []
        params = {"limit": "100"}
        while True:
            status, body = self.request("GET", "/v1/payment_intents", params)
            if status != 200:
                raise StripeSandboxError(f"listing failed: {status} {body}")
            intents += body["data"]
            if not body.get("has_more") or not body["data"]:
                return intents
            params = {"limit": "100", "starting_after": body["data"][-1]["id"]}

    def flush(self) -> None:
        """Forget every object and every idempotency key (registered webhooks stay)."""
        self.request("DELETE", "/_config/data")


def sandbox_values_read(
    process: subprocess.Popen, names: tuple[str, ...], timeout: float = START_TIMEOUT_SECONDS
) -> dict[str, str]:
    """Read the ``NAME=value`` lines a sandbox prints once it listens."""
    values = announced_values(process, names, timeout=timeout)
    if len(values) < len(names):
        raise StripeSandboxError("the Stripe sandbox (sandboxes/stripe_server.py) did not start")
    return values


if __name__ == "__main__":
    main()
