"""`manage.py serve` in debug without EMAIL_URL starts the local SMTP server (aiosmtpd,
sandboxes/mail_server.py) beside the web server, and the debug-only page labelled as the
local mailbox shows what it received; Ctrl-C stops it with the rest."""

import os
import re
import signal
import smtplib
import subprocess
import sys
import time
import urllib.request
from email.message import EmailMessage

from tests.core.test_serve import ROOT, _free_port, embedded_env  # noqa: F401


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_the_local_mailbox_shows_what_the_local_smtp_server_received(
    embedded_env,  # noqa: F811
):
    port, smtp_port = _free_port(), _free_port()
    env = {k: v for k, v in embedded_env.items() if k != "EMAIL_URL"}
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "serve",
            "--port",
            str(port),
            "--no-worker",
            "--mail-sandbox-port",
            str(smtp_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.3)
        status, page = _get(f"http://127.0.0.1:{port}/messages/mailbox/")
        assert (status == 200 and "Local mailbox (demo)" in page) or "Boîte mail locale" in page
        note = EmailMessage()
        note["From"], note["To"], note["Subject"] = "a@example.test", "b@example.test", "Bonjour"
        note.set_content("Votre code : 123456")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as smtp:
            smtp.send_message(note)
        _status, page = _get(f"http://127.0.0.1:{port}/messages/mailbox/")
        assert "Bonjour" in page and "b@example.test" in page
        key = re.search(r'href="/messages/mailbox/([^/"]+)/"', page).group(1)
        _status, detail = _get(f"http://127.0.0.1:{port}/messages/mailbox/{key}/")
        assert "Votre code : 123456" in detail
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    output = server.stdout.read().decode()
    assert (
        f"Local mailbox (demo: e-mails stay on this machine) at http://127.0.0.1:{port}" in output
    )
    try:
        smtplib.SMTP("127.0.0.1", smtp_port, timeout=2).quit()
        stopped = False
    except OSError:
        stopped = True
    assert stopped, "the local SMTP server outlived serve"
