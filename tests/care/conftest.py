import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from tests import factories


def make_agent(name: str = "Alex Agent"):
    """A member of the care team: the permission ``care.answer_case``, nothing else."""
    account = factories.user(name)
    account.user_permissions.add(
        Permission.objects.get(codename="answer_case", content_type__app_label="care")
    )
    return get_user_model().objects.get(pk=account.pk)  # no cached permissions


@pytest.fixture
def group_trip():
    """A trip of three: the organiser, a friend, another friend; and a stranger."""
    organiser = factories.user("Olivia Organiser")
    trip = factories.trip(organiser=organiser)
    friend = factories.member(trip, "Farid Friend")
    other = factories.member(trip, "Yuna Friend")
    stranger = factories.user("Sam Stranger")
    return trip, organiser, friend, other, stranger


@pytest.fixture
def agent():
    return make_agent()
