import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.announced import announced_values

# What the fake Facebook prints once it listens (sandboxes/facebook_server.py, main()).
SANDBOX_VARIABLES = (
    "FACEBOOK_APP_ID",
    "FACEBOOK_APP_SECRET",
    "FACEBOOK_GRAPH_URL",
    "FACEBOOK_DIALOG_URL",
)
# What the Stripe sandbox prints once it listens (sandboxes/stripe_server.py, main()).
STRIPE_SANDBOX_VARIABLES = (
    "STRIPE_API_BASE",
    "STRIPE_JS_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
)
SANDBOX_START_SECONDS = 15


class Command(BaseCommand):
    help = (
        "Run the app for local use: Daphne (HTTP + websockets) and, beside it, the worker; "
        "without FACEBOOK_APP_ID, also the Facebook sandbox (a fake Facebook on loopback); in "
        "Stripe sandbox mode (STRIPE_SANDBOX: debug and no STRIPE_SECRET_KEY), also the Stripe "
        "sandbox (localstripe on loopback); in debug without EMAIL_URL, also a local SMTP server "
        "whose e-mails the page /messages/mailbox/ shows. "
        "Ctrl-C stops them all; if one dies, the others are stopped too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true")
        parser.add_argument(
            "--facebook-sandbox-port",
            type=int,
            default=0,
            help="port of the Facebook sandbox on 127.0.0.1 (default: any free port)",
        )
        parser.add_argument(
            "--stripe-sandbox-port",
            type=int,
            default=0,
            help="port of the Stripe sandbox on 127.0.0.1 (default: any free port)",
        )
        parser.add_argument(
            "--mail-sandbox-port",
            type=int,
            default=0,
            help="port of the local SMTP server on 127.0.0.1 (default: any free port)",
        )

    def handle(
        self,
        *args,
        host,
        port,
        no_worker,
        facebook_sandbox_port,
        stripe_sandbox_port,
        mail_sandbox_port=0,
        **options,
    ):
        python = sys.executable
        env = os.environ.copy()
        children: dict[str, subprocess.Popen] = {}
        if not settings.FACEBOOK_APP_ID:
            # Sandbox mode: the web process talks to the fake as if it were Facebook, and
            # knows (FACEBOOK_SANDBOX=1) to label it as such on the login page.
            sandbox, values = self._facebook_sandbox_start(python, facebook_sandbox_port)
            children["facebook sandbox"] = sandbox
            env.update(values, FACEBOOK_SANDBOX="1")
            self.stdout.write(
                f"Facebook sandbox (local demo, not the real Facebook) at "
                f"{values['FACEBOOK_DIALOG_URL']}"
            )
        if settings.STRIPE_SANDBOX:
            # Stripe sandbox mode: localstripe behind our idempotency layer; the web process
            # gets its URLs and keys (STRIPE_SANDBOX=1 labels the pay page), and the sandbox
            # delivers signed webhooks to our endpoint.
            webhook_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
            sandbox, values = self._sandbox_start(
                python,
                "sandboxes.stripe_server",
                STRIPE_SANDBOX_VARIABLES,
                stripe_sandbox_port,
                [
                    "--webhook-url",
                    f"http://{webhook_host}:{port}/payments/stripe/webhook/",
                    "--parent-pid",
                    str(os.getpid()),
                ],
                "The Stripe sandbox (sandboxes/stripe_server.py) did not start. "
                "Set STRIPE_SECRET_KEY (test mode keys) to use Stripe itself.",
                children,
            )
            children["stripe sandbox"] = sandbox
            env.update(values, STRIPE_SANDBOX="1")
            self.stdout.write(
                f"Stripe sandbox (local demo, not the real Stripe: test cards only, no money "
                f"moves) at {values['STRIPE_API_BASE']}"
            )
        if settings.DEBUG and not os.environ.get("EMAIL_URL"):
            # The local mailbox: e-mails (login codes, the trips' messages) go to an SMTP
            # server on loopback and are read on a debug-only page, not on the console.
            sandbox, values = self._sandbox_start(
                python,
                "sandboxes.mail_server",
                ("EMAIL_URL",),
                mail_sandbox_port,
                ["--maildir", str(settings.MAIL_SANDBOX_DIR), "--parent-pid", str(os.getpid())],
                "The local mail server (sandboxes/mail_server.py) did not start. "
                "Set EMAIL_URL to send e-mails elsewhere.",
                children,
            )
            children["local mailbox"] = sandbox
            env.update(values, MAIL_SANDBOX="1")
            self.stdout.write(
                f"Local mailbox (demo: e-mails stay on this machine) at "
                f"http://{host}:{port}/messages/mailbox/"
            )
        if settings.DEBUG and not os.environ.get("SITE_URL"):
            # Links in e-mails the worker makes by itself (reminders) point at this server;
            # a request's own host wins where there is one (core/site.py).
            site_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
            env["SITE_URL_FALLBACK"] = f"http://{site_host}:{port}"
        commands = {
            "web": [python, "-m", "daphne", "-b", host, "-p", str(port), "asgi:application"],
        }
        if not no_worker:
            commands["worker"] = [python, "manage.py", "worker"]
        for name, cmd in commands.items():
            children[name] = subprocess.Popen(cmd, env=env)  # noqa: S603
        self.stdout.write(self.style.SUCCESS(f"Sidebyside is running at http://{host}:{port}/"))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with {child.returncode}; stopping.")
                        exit_code = child.returncode or 1
                        stopping = True
                time.sleep(0.3)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            for child in children.values():
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        if exit_code:
            sys.exit(exit_code)

    def _facebook_sandbox_start(self, python: str, port: int):
        """Start the fake Facebook and read the settings it prints for the web process."""
        return self._sandbox_start(
            python,
            "sandboxes.facebook_server",
            SANDBOX_VARIABLES,
            port,
            [],
            "The Facebook sandbox (sandboxes/facebook_server.py) did not start. "
            "Set FACEBOOK_APP_ID and FACEBOOK_APP_SECRET to use a real Facebook app.",
            {},
        )

    def _sandbox_start(
        self,
        python: str,
        module: str,
        variables: tuple[str, ...],
        port: int,
        extra_args: list[str],
        failure: str,
        started: dict[str, subprocess.Popen],
    ):
        """Start a fake (a module of sandboxes) on loopback and read the NAME=value
        settings it prints once it listens. On failure, stop it and the ``started`` ones."""
        sandbox = subprocess.Popen(  # noqa: S603
            [python, "-m", module, "--host", "127.0.0.1", "--port", str(port), *extra_args],
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
        )
        values = announced_values(sandbox, variables, timeout=SANDBOX_START_SECONDS)
        if len(values) < len(variables):
            for child in [sandbox, *started.values()]:
                if child.poll() is None:
                    child.kill()
                    child.wait()
            raise CommandError(failure)
        return sandbox, values
