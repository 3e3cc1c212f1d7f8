"""A provider's API (django-anymail) refusing an address for good: that message is
failed at once, never retried, and the others of the pass still go."""

import pytest
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.message import AnymailRecipientStatus
from django.core import mail

from notices import kinds, sending
from notices.kinds import Email
from notices.models import Message
from notices.services import message_queue
from tests import factories

BOUNCED_DOMAIN = "bounced.test"


class RefusingBackend(AnymailTestBackend):
    """anymail's test backend, where the provider answers "rejected" for every address at
    ``bounced.test`` (as a provider does for an address that bounced before)."""

    def post_to_esp(self, payload, message):
        if any(address.endswith("@" + BOUNCED_DOMAIN) for address in message.to):
            message.anymail_test_response = {
                "recipient_status": {
                    address: AnymailRecipientStatus(message_id=None, status="rejected")
                    for address in payload.recipient_emails
                }
            }
        return super().post_to_esp(payload, message)


@pytest.fixture(autouse=True)
def provider(settings):
    kinds.register(
        "tests.provider",
        object_type="tests.thing",
        render=lambda message: Email(subject="Hello", text="Plain", html="<p>Html</p>"),
    )
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.RefusingBackend"}}
    settings.ANYMAIL = {}
    yield
    kinds._kinds.pop("tests.provider", None)


@pytest.mark.django_db
def test_an_address_the_provider_refuses_or_cannot_parse_fails_for_good_and_the_rest_go(
    settings,
):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "MESSAGE_MAX_ATTEMPTS": 8}
    ana = factories.user(email="ana@example.com")
    bounced = factories.user(email=f"gone@{BOUNCED_DOMAIN}")
    malformed = factories.user(email="no-at-sign")
    ben = factories.user(email="ben@example.com")
    message_queue(
        kind="tests.provider",
        object_id=1,
        recipient_ids=[ana.pk, bounced.pk, malformed.pk, ben.pk],
    )

    assert sending.messages_send() == 2

    states = {m.recipient_id: m for m in Message.objects.all()}
    assert states[ana.pk].state == states[ben.pk].state == "sent"
    assert states[bounced.pk].state == "failed"
    assert "AnymailRecipientsRefused" in states[bounced.pk].last_error
    assert states[malformed.pk].state == "failed"
    assert "AnymailInvalidAddress" in states[malformed.pk].last_error
    # Failed at the first attempt, never due again.
    assert {states[bounced.pk].attempts, states[malformed.pk].attempts} == {1}
    delivered = [m.to[0] for m in mail.outbox if m.to[0] != f"gone@{BOUNCED_DOMAIN}"]
    assert sorted(delivered) == ["ana@example.com", "ben@example.com"]
