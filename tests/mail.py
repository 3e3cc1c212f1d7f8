"""A real SMTP peer for the tests: ``aiosmtpd`` on a free loopback port
reached through Django's SMTP backend."""

import pytest

from sandboxes.mail_server import MailSandbox


@pytest.fixture(scope="session")
def smtp_server_process():
    with MailSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def smtp_server(smtp_server_process, settings):
    """The running server, empty, with MAILERS pointing at it."""
    smtp_server_process.clear()
    settings.MAILERS = smtp_server_process.mailers()
    return smtp_server_process
