"""The demo's local mailbox page: only in debug with the local mail server, it lists what
that server kept and shows a message with its inline images."""

import re

import pytest

from notices import kinds
from notices.kinds import Email
from notices.sending import messages_send
from notices.services import message_queue
from sandboxes.mail_server import MailSandbox
from tests import factories
from tests.notices.test_smtp import PIXEL

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_mailbox(tmp_path, settings):
    kinds.register(
        "tests.mailbox",
        object_type="tests.thing",
        render=lambda m: Email(
            subject="Vos billets",
            text="Texte brut",
            html='<p>Html</p><img src="cid:qr-9">',
            inline_images=[("qr-9", PIXEL, "image/png")],
        ),
    )
    settings.DEBUG, settings.MAIL_SANDBOX, settings.MAIL_SANDBOX_DIR = True, True, tmp_path
    with MailSandbox(maildir=tmp_path) as sandbox:
        settings.MAILERS = sandbox.mailers()
        yield sandbox
    kinds._kinds.pop("tests.mailbox", None)


def test_the_mailbox_lists_and_shows_what_arrived(local_mailbox, client):
    ana = factories.user()
    message_queue(kind="tests.mailbox", object_id=1, recipient_ids=[ana.pk])
    assert messages_send() == 1
    page = client.get("/messages/mailbox/").content.decode()
    assert "Vos billets" in page and ana.email in page
    key = re.search(r'href="/messages/mailbox/([^/"]+)/"', page).group(1)
    detail = client.get(f"/messages/mailbox/{key}/").content.decode()
    assert "Texte brut" in detail
    assert "data:image/png;base64," in detail and "cid:qr-9" not in detail


def test_the_mailbox_is_not_there_outside_the_demo(local_mailbox, client, settings):
    settings.MAIL_SANDBOX = False
    assert client.get("/messages/mailbox/").status_code == 404
    settings.MAIL_SANDBOX, settings.DEBUG = True, False
    assert client.get("/messages/mailbox/").status_code == 404
