"""The "invited" e-mail (issue 19): an invitation sent to an e-mail address queues it in
the invitation's transaction; the worker sends it through SMTP (aiosmtpd) to whoever reads
mail there, account or not, in their language (else the inviter's); its link, followed
by the owner of the address, joins the trip. Not essential: an account's preferences
apply, an address alone has none."""

import re
from html import unescape

import pytest
from allauth.account.models import EmailAddress
from django.db import transaction
from rest_framework.test import APIClient

from groups import services
from groups.models import Invitation, Membership, Profile
from groups.selectors import hash_token
from notices.models import Message
from notices.sending import messages_send
from notices.services import preference_set
from tests import factories

pytestmark = pytest.mark.django_db

SITE = "https://sidebyside.example"


@pytest.fixture(autouse=True)
def site(settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "SITE_URL": SITE}


@pytest.fixture
def organiser():
    olivia = factories.user("Olivia")
    Profile.objects.filter(user=olivia).update(preferred_language="en")
    return olivia


@pytest.fixture
def trip(organiser):
    return factories.trip(organiser=organiser, title="Lyon weekend")


def _invite(organiser, trip, address: str) -> dict:
    client = APIClient()
    client.force_login(organiser)
    response = client.post(
        f"/api/groups/{trip.group_id}/invitations/",
        {"channel": "email", "invitee_email": address},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _person_with_address(email: str, *, language: str = ""):
    person = factories.user(email=email)
    EmailAddress.objects.create(user=person, email=email, verified=True, primary=True)
    if language:
        Profile.objects.filter(user=person).update(preferred_language=language)
    return person


def _bodies(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = unescape(message.get_body(("html",)).get_content())
    return text, html


def test_an_address_without_account_gets_the_invitation_and_its_link_joins(
    organiser, trip, smtp_server
):
    answer = _invite(organiser, trip, "zoe@example.org")

    [message] = Message.objects.filter(kind="groups.invited")
    assert (message.recipient_id, message.address) == (None, "zoe@example.org")
    assert message.language == "en"  # nobody knows Zoé's: the inviter's
    assert messages_send() == 1

    [mail] = smtp_server.to("zoe@example.org")
    assert mail["Subject"] == "[Sidebyside] Olivia invites you to join “Lyon weekend”"
    assert "List-Unsubscribe" not in mail  # no account: nothing to unsubscribe from
    text, html = _bodies(mail)
    assert "Olivia invites you to plan" in text and "Lyon weekend" in text
    path = re.search(rf"{re.escape(SITE)}(/join/[\w-]+/)", text).group(1)
    assert f'href="{SITE}{path}"' in html
    # The same link as the organiser was shown; the database keeps only its hash.
    assert answer["url"].endswith(path)
    invitation = Invitation.objects.get(pk=message.object_id)
    assert invitation.token_hash == hash_token(path.split("/")[2])

    # Zoé signs up with that address, follows the link and joins.
    zoe = _person_with_address("zoe@example.org")
    from django.test import Client

    browser = Client()
    browser.force_login(zoe)
    assert browser.get(path).status_code == 200
    response = browser.post(path)
    assert response.status_code == 302
    assert Membership.objects.filter(
        group=trip.group, user=zoe, status=Membership.Status.ACTIVE
    ).exists()
    # Used once: the link joins nobody else.
    assert Client().get(path).status_code in (404, 410)


def test_an_account_reading_mail_at_the_address_gets_it_in_its_language(
    organiser, trip, smtp_server
):
    ana = _person_with_address("ana@example.org", language="fr")
    _invite(organiser, trip, "Ana@Example.org")

    [message] = Message.objects.filter(kind="groups.invited")
    assert (message.recipient_id, message.address, message.language) == (ana.pk, "", "fr")
    assert messages_send() == 1
    [mail] = smtp_server.to("ana@example.org")
    assert mail["Subject"] == "[Sidebyside] Olivia vous invite à rejoindre « Lyon weekend »"
    assert "List-Unsubscribe-Post" in mail  # an account: its preferences, one click away


def test_an_account_that_opted_out_is_not_sent_the_invitation(organiser, trip, smtp_server):
    ben = _person_with_address("ben@example.org")
    preference_set(user_id=ben.pk, email_updates=False)
    answer = _invite(organiser, trip, "ben@example.org")
    assert answer["url"]  # the invitation exists: the organiser may pass the link on
    assert not Message.objects.filter(kind="groups.invited").exists()


def test_an_invitation_withdrawn_before_its_e_mail_went_is_not_sent(organiser, trip, smtp_server):
    _invite(organiser, trip, "zoe@example.org")
    invitation = Invitation.objects.get(invitee_email="zoe@example.org")
    services.invitation_revoke(invitation_id=invitation.pk, by=organiser)
    assert messages_send() == 0
    assert Message.objects.get(kind="groups.invited").state == "dropped"
    assert smtp_server.messages == []


def test_an_invitation_rolled_back_queues_nothing(organiser, trip):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.invitation_create(
            group_id=trip.group_id, by=organiser, channel="email", invitee_email="zoe@example.org"
        )
        raise RuntimeError("the cause failed")
    assert not Message.objects.exists()


def test_deleting_the_account_of_the_address_forgets_the_invitation_e_mails(organiser, trip):
    from groups.account_services import account_delete

    _invite(organiser, trip, "zoe@example.org")
    zoe = _person_with_address("zoe@example.org")
    account_delete(user=zoe)
    assert not Message.objects.filter(address__iexact="zoe@example.org").exists()
