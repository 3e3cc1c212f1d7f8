"""The outbox through a real SMTP server (aiosmtpd on loopback, via Django's SMTP
backend): the MIME that arrives, a refused address marked failed for good, a server that
asks to come back later or is away retried."""

import pytest

from notices import kinds, sending
from notices.kinds import Email
from notices.models import Message
from notices.services import message_queue
from sandboxes.mail_server import BUSY_DOMAIN, REFUSED_DOMAIN
from tests import factories

PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _render(message):
    return Email(
        subject="Vos billets",
        text="Texte brut é",
        html='<html><body><p>Html</p><img src="cid:qr-1"></body></html>',
        inline_images=[("qr-1", PIXEL, "image/png")],
        attachments=[("trip.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar")],
    )


@pytest.fixture(autouse=True)
def test_kind(settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "EMAIL_REPLY_TO": "help@sidebyside.test"}
    kinds.register("tests.mime", object_type="tests.thing", render=_render)
    yield
    kinds._kinds.pop("tests.mime", None)


@pytest.mark.django_db
def test_a_message_arrives_with_text_html_inline_image_and_attachment(smtp_server):
    ana = factories.user()
    message_queue(kind="tests.mime", object_id=1, recipient_ids=[ana.pk])
    assert sending.messages_send() == 1
    [received] = smtp_server.to(ana.email)
    assert received["Subject"] == "Vos billets"
    assert received["Reply-To"] == "help@sidebyside.test"
    assert received["From"] == "Sidebyside <noreply@localhost>"
    row = Message.objects.get()
    assert received["Message-ID"] == f"<message-{row.pk}@localhost>"
    assert received.get_body(("plain",)).get_content().strip() == "Texte brut é"
    html = received.get_body(("html",)).get_content()
    assert '<img src="cid:qr-1">' in html
    [image] = [p for p in received.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<qr-1>" and image.get_content() == PIXEL
    [ics] = [p for p in received.iter_attachments() if p.get_filename() == "trip.ics"]
    assert ics.get_content_type() == "text/calendar"


@pytest.mark.django_db
def test_a_refused_address_fails_for_good_and_the_others_still_go(smtp_server):
    ana, ben = factories.user(email=f"ana@{REFUSED_DOMAIN}"), factories.user()
    message_queue(kind="tests.mime", object_id=1, recipient_ids=[ana.pk, ben.pk])
    assert sending.messages_send() == 1
    assert dict(Message.objects.values_list("recipient_id", "state")) == {
        ana.pk: "failed",
        ben.pk: "sent",
    }
    assert "550" in Message.objects.get(recipient=ana).last_error
    assert len(smtp_server.to(ben.email)) == 1


@pytest.mark.django_db
def test_a_server_that_says_later_or_is_away_gets_the_message_again(smtp_server, settings):
    ana, ben = factories.user(email=f"ana@{BUSY_DOMAIN}"), factories.user()
    message_queue(kind="tests.mime", object_id=1, recipient_ids=[ana.pk, ben.pk])
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},  # nobody there
        }
    }
    assert sending.messages_send() == 0
    assert set(Message.objects.values_list("state", "attempts")) == {("queued", 1)}
    settings.MAILERS = smtp_server.mailers()
    later = Message.objects.get(recipient=ben).next_attempt_at
    assert sending.messages_send(now=later) == 1
    assert dict(Message.objects.values_list("recipient_id", "state")) == {
        ana.pk: "queued",  # 451: try again later
        ben.pk: "sent",
    }
    assert "451" in Message.objects.get(recipient=ana).last_error
    assert len(smtp_server.to(ben.email)) == 1
