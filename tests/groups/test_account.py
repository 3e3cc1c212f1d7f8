"""The account page: name and language, "Download my data" and "Delete my account"."""

import json
import re

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.auth import authenticate, get_user_model
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse

from groups import account_services, services
from groups.account_services import FORMER_TRAVELLER_NAME
from groups.models import DataDeletionRequest, Invitation, Membership, Profile
from groups.signals import user_anonymising
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rate_limits")]

ENGLISH = {"Accept-Language": "en"}


def traveller(name: str, email: str, *, facebook_id: str | None = None):
    user = factories.user(name, email=email, facebook_id=facebook_id)
    user.set_unusable_password()
    user.save()
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture
def olivia():
    return traveller("Olivia Organiser", "olivia@example.test", facebook_id="10001")


@pytest.fixture
def trip(olivia):
    return factories.trip(organiser=olivia, title="Lyon weekend")


def join(trip_obj, name: str, email: str):
    """A verified traveller who joins ``trip_obj`` through a fresh link."""
    organiser = Membership.objects.get(group=trip_obj.group, role="organiser").user
    _invitation, token = services.invitation_create(group_id=trip_obj.group_id, by=organiser)
    user = traveller(name, email)
    services.invitation_accept(token=token, user=user)
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- The page, and who may see it -------------------------------------------------------


@pytest.mark.parametrize(
    "url_name",
    ["my_account", "my_account_data", "my_account_delete"],
)
def test_the_account_pages_need_a_login(client, url_name):
    url = reverse(url_name)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


def test_deleting_needs_a_login_too(client, olivia):
    response = client.post(reverse("my_account_delete"), {"confirm": "on"})
    assert response.status_code == 302
    assert get_user_model().objects.get(pk=olivia.pk).is_active


def test_the_page_shows_name_email_facebook_and_language(olivia):
    SocialAccount.objects.create(user=olivia, provider="facebook", uid="10001")
    Profile.objects.filter(user=olivia).update(preferred_language="en")

    page = logged_in(olivia).get(reverse("my_account"), headers=ENGLISH)

    assert page.status_code == 200
    text = page.content.decode()
    assert "Olivia Organiser" in text
    assert "olivia@example.test" in text
    assert "Linked: you can log in with Facebook" in text
    assert "English" in text
    assert reverse("my_account_data") in text
    assert reverse("my_account_delete") in text
    assert 'name="csrfmiddlewaretoken"' in text


def test_the_header_links_to_the_account_page(olivia):
    page = logged_in(olivia).get(reverse("home"))
    assert f'href="{reverse("my_account")}"' in page.content.decode()


def test_name_and_language_are_changed(olivia):
    client = logged_in(olivia)

    response = client.post(
        reverse("my_account"), {"display_name": "  Olivia   O. ", "preferred_language": "en"}
    )

    assert response.status_code == 302
    profile = Profile.objects.get(user=olivia)
    assert (profile.display_name, profile.preferred_language) == ("Olivia O.", "en")
    assert response.cookies["django_language"].value == "en"


@pytest.mark.parametrize(
    "data, field",
    [
        ({"display_name": "   ", "preferred_language": "en"}, "display_name"),
        ({"display_name": "Olivia", "preferred_language": "de"}, "preferred_language"),
        ({"display_name": "x" * 151, "preferred_language": "en"}, "display_name"),
    ],
)
def test_a_bad_name_or_language_is_refused_and_nothing_changes(olivia, data, field):
    response = logged_in(olivia).post(reverse("my_account"), data)

    assert response.status_code == 400
    assert field in response.context["form"].errors
    profile = Profile.objects.get(user=olivia)
    assert profile.display_name == "Olivia Organiser"


def test_the_service_refuses_a_blank_name_itself(olivia):
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput) as raised:
        account_services.profile_update(user=olivia, display_name=" ", preferred_language="fr")
    assert "display_name" in raised.value.fields
    assert Profile.objects.get(user=olivia).display_name == "Olivia Organiser"


# --- Download my data ----------------------------------------------------------------------


def test_the_export_is_a_json_file_with_my_data_and_not_the_others_addresses(olivia, trip):
    bruno = join(trip, "Bruno Petit", "bruno@example.test")
    services.invitation_create(
        group_id=trip.group_id, by=olivia, channel="email", invitee_email="chloe@example.test"
    )

    response = logged_in(olivia).get(reverse("my_account_data"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert re.fullmatch(
        r'attachment; filename="sidebyside-data-\d{4}-\d{2}-\d{2}\.json"',
        response["Content-Disposition"],
    )
    data = json.loads(response.content)
    assert data["profile"]["display_name"] == "Olivia Organiser"
    assert data["profile"]["facebook_id"] == "10001"
    assert data["email_addresses"] == [
        {"email": "olivia@example.test", "verified": True, "primary": True}
    ]
    assert data["memberships"] == [
        {
            "group": trip.group.name,
            "role": "organiser",
            "status": "active",
            "shares_details": False,
            "joined_at": data["memberships"][0]["joined_at"],
        }
    ]
    assert len(data["invitations_created"]) == 2  # bruno's link and chloe's e-mail
    assert {i["channel"] for i in data["invitations_created"]} == {"link", "email"}
    # booking's section, registered from booking's AppConfig.ready().
    [exported_trip] = data["trips"]
    assert exported_trip["title"] == "Lyon weekend"
    assert exported_trip["from"]["code"] == "FRPLY"
    assert exported_trip["to"]["code"] == "FRLPD"
    assert exported_trip["role"] == "organiser"
    assert exported_trip["outbound_from"] == trip.outbound_from.isoformat()
    text = response.content.decode()
    assert bruno.email not in text
    assert "Bruno Petit" not in text
    assert "chloe@example.test" not in text


def test_a_member_exports_their_own_membership_only(olivia, trip):
    bruno = join(trip, "Bruno Petit", "bruno@example.test")

    data = json.loads(logged_in(bruno).get(reverse("my_account_data")).content)

    assert data["profile"]["display_name"] == "Bruno Petit"
    assert [m["role"] for m in data["memberships"]] == ["member"]
    assert data["invitations_created"] == []
    assert [t["role"] for t in data["trips"]] == ["member"]
    assert "olivia@example.test" not in json.dumps(data)


# --- Delete my account ---------------------------------------------------------------------


def test_the_delete_page_asks_for_confirmation(olivia, trip):
    client = logged_in(olivia)

    page = client.get(reverse("my_account_delete"), headers=ENGLISH)
    assert page.status_code == 200
    assert 'type="checkbox"' in page.content.decode()

    response = client.post(reverse("my_account_delete"), {})

    assert response.status_code == 400
    assert "confirm" in response.context["form"].errors
    olivia.refresh_from_db()
    assert olivia.is_active
    assert Membership.objects.get(user=olivia).is_organiser
    assert not DataDeletionRequest.objects.exists()


def test_deleting_an_account(olivia, trip):
    bruno = join(trip, "Bruno Petit", "bruno@example.test")
    chloe = join(trip, "Chloé Durand", "chloe@example.test")
    link, link_token = services.invitation_create(group_id=trip.group_id, by=olivia)
    # A group of her own, with nobody else left in it.
    solo = factories.trip(organiser=olivia, title="Alone")
    # A public group she asked to join, still waiting for approval.
    other = factories.trip(privacy="public", requires_approval=True)
    services.group_join_public(group_id=other.group_id, user=olivia)
    account = SocialAccount.objects.create(user=olivia, provider="facebook", uid="10001")
    SocialToken.objects.create(account=account, token="EAA-token")
    client = logged_in(olivia)
    other_device = logged_in(olivia)
    bruno_client = logged_in(bruno)

    response = client.post(reverse("my_account_delete"), {"confirm": "on"})

    assert response.status_code == 302
    assert response["Location"] == reverse("my_account_deleted")
    # The organiser role went to the traveller who joined first after her.
    assert Membership.objects.get(group=trip.group, user=bruno).is_organiser
    assert Membership.objects.get(group=trip.group, user=chloe).role == "member"
    assert set(Membership.objects.filter(user=olivia).values_list("status", flat=True)) == {"left"}
    assert not Membership.objects.filter(user=olivia, role="organiser").exists()
    assert not Membership.objects.filter(group=solo.group, status="active").exists()
    # Her invitations stop working.
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert not Invitation.objects.filter(created_by=olivia, revoked_at__isnull=True).exists()
    # She is anonymised and her logins are gone.
    olivia.refresh_from_db()
    assert olivia.username == f"deleted-{olivia.pk}"
    assert (olivia.email, olivia.first_name, olivia.last_name) == ("", "", "")
    assert not olivia.is_active and not olivia.has_usable_password()
    profile = Profile.objects.get(user=olivia)
    assert profile.display_name == FORMER_TRAVELLER_NAME
    assert (profile.avatar_url, profile.facebook_id) == ("", None)
    assert not EmailAddress.objects.filter(user=olivia).exists()
    assert not SocialAccount.objects.exists() and not SocialToken.objects.exists()
    # Logged out here and on her other device.
    assert "_auth_user_id" not in client.session
    assert other_device.get(reverse("my_account")).status_code == 302
    # The goodbye page gives the code; the status page knows it.
    goodbye = client.get(response["Location"], headers=ENGLISH)
    deletion = DataDeletionRequest.objects.get()
    assert (deletion.source, deletion.status) == ("account", "done")
    assert deletion.confirmation_code in goodbye.content.decode()
    assert (
        client.get(
            reverse("facebook_deletion_status", args=[deletion.confirmation_code])
        ).status_code
        == 200
    )
    # Bruno's and Chloé's data are untouched, and Bruno is still logged in.
    bruno.refresh_from_db()
    assert bruno.is_active and bruno.email == "bruno@example.test"
    assert Profile.objects.get(user=bruno).display_name == "Bruno Petit"
    assert EmailAddress.objects.filter(user__in=[bruno, chloe]).count() == 2
    assert Membership.objects.get(group=trip.group, user=chloe).status == "active"
    assert bruno_client.get(reverse("my_account")).status_code == 200
    # The link she made no longer lets anyone in.
    with pytest.raises(Exception) as raised:
        services.invitation_accept(token=link_token, user=traveller("Dan", "dan@example.test"))
    assert raised.value.code == "invitation_revoked"


def test_a_deleted_account_cannot_log_in_again(olivia):
    client = logged_in(olivia)
    client.post(reverse("my_account_delete"), {"confirm": "on"})
    mail.outbox.clear()

    client.post(reverse("account_request_login_code"), {"email": "olivia@example.test"})

    # The same answer as for any unknown address: a message without a code.
    assert len(mail.outbox) == 1
    assert not re.search(r"^\s*[A-Z0-9]{4}-?[A-Z0-9]{4}\s*$", mail.outbox[0].body, re.MULTILINE)
    assert "_auth_user_id" not in client.session
    # As a login form asks (with its request: the admin's lockout counts by it).
    assert (
        authenticate(RequestFactory().post("/"), username=f"deleted-{olivia.pk}", password="")
        is None
    )


def test_higher_apps_anonymise_inside_the_same_transaction(olivia):
    heard = []

    def listener(sender, user_id, **kwargs):
        heard.append(user_id)
        raise RuntimeError("booking could not anonymise")

    user_anonymising.connect(listener)
    try:
        with pytest.raises(RuntimeError):
            account_services.account_delete(user=olivia)
    finally:
        user_anonymising.disconnect(listener)

    assert heard == [olivia.pk]
    # A failure anywhere leaves everything as it was.
    olivia.refresh_from_db()
    assert olivia.is_active and olivia.email == "olivia@example.test"
    assert EmailAddress.objects.filter(user=olivia).exists()
    assert not DataDeletionRequest.objects.exists()


def test_the_goodbye_page_without_a_deletion_goes_home(client):
    response = client.get(reverse("my_account_deleted"))
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
