"""The admin's views of people, friend groups and trips: support staff can look, and the
rules of roles and invitations cannot be bypassed from there."""

import pytest
from django.urls import reverse

from groups.models import DataDeletionRequest
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client, django_user_model):
    operator = django_user_model.objects.create(
        username="operator", is_staff=True, is_superuser=True
    )
    client.force_login(operator)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def trip():
    trip = factories.trip()
    factories.member(trip, "Fatou Friend")
    DataDeletionRequest.objects.create(confirmation_code="abc", source="account", status="done")
    return trip


@pytest.mark.parametrize(
    "app_model",
    ["groups_profile", "groups_friendgroup", "groups_datadeletionrequest", "booking_trip"],
)
def test_changelist_and_change_page_answer(client, trip, app_model):
    response = client.get(reverse(f"admin:{app_model}_changelist"))
    assert response.status_code == 200
    obj = response.context["cl"].result_list[0]
    assert client.get(reverse(f"admin:{app_model}_change", args=[obj.pk])).status_code == 200


def test_group_page_lists_members_and_invitations_read_only(client, trip):
    response = client.get(reverse("admin:groups_friendgroup_change", args=[trip.group_id]))
    content = response.content.decode()
    assert "Fatou Friend" in content
    assert "Olivia Organiser" in content
    # No form field lets the operator change a role (the one-organiser rule is the services').
    assert 'name="memberships-0-role"' not in content


def test_deletion_requests_cannot_be_added_by_hand(client):
    assert client.get(reverse("admin:groups_datadeletionrequest_add")).status_code == 403
