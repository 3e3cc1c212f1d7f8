"""The profile's writes and reads (groups.services, groups.selectors), called directly."""

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from groups import selectors, services
from groups.models import Profile

pytestmark = pytest.mark.django_db


def _user(email="ines@example.test", username="ines"):
    return get_user_model().objects.create(username=username, email=email)


def test_profile_create_cleans_the_name_and_keeps_a_known_language():
    profile = services.profile_create(
        user=_user(), display_name="  Inès \n Garcia ", language="en-gb"
    )

    assert profile.display_name == "Inès Garcia"
    assert profile.preferred_language == "en"
    assert profile.facebook_id is None


def test_profile_create_is_idempotent_and_ignores_unknown_languages():
    user = _user()
    first = services.profile_create(user=user, display_name="Inès", language="de")
    second = services.profile_create(user=user, display_name="Someone else")

    assert first.pk == second.pk
    assert second.display_name == "Inès"
    assert second.preferred_language == ""


def test_facebook_creates_then_refreshes_name_and_picture_but_not_the_language():
    user = _user()
    services.profile_create_or_update_from_facebook(
        user=user,
        facebook_id="10001",
        name="Inès Garcia",
        picture_url="https://cdn.example.test/a.jpg",
        language="fr",
    )
    profile = services.profile_create_or_update_from_facebook(
        user=user,
        facebook_id="10001",
        name="Inès G.",
        picture_url="javascript:alert(1)",
        language="en",
    )

    assert Profile.objects.count() == 1
    assert profile.display_name == "Inès G."
    assert profile.avatar_url == ""  # only http(s) URLs end up in an <img src>
    assert profile.preferred_language == "fr"


def test_an_email_guest_who_logs_in_with_facebook_keeps_one_profile():
    user = _user()
    services.profile_create(user=user, display_name="Inès", language="en")

    profile = services.profile_create_or_update_from_facebook(
        user=user, facebook_id="10001", name="", picture_url=None
    )

    assert profile.facebook_id == "10001"
    assert profile.display_name == "Inès"  # Facebook gave no name: keep ours


def test_a_facebook_id_belongs_to_one_profile():
    services.profile_create_or_update_from_facebook(
        user=_user(), facebook_id="10001", name="A", picture_url=None
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        services.profile_create_or_update_from_facebook(
            user=_user("b@example.test", "b"), facebook_id="10001", name="B", picture_url=None
        )


def test_display_name_falls_back_to_the_email_address(django_assert_num_queries):
    user = _user()
    with django_assert_num_queries(1):
        assert selectors.user_display_name(user=user) == "ines@example.test"
    services.profile_create(user=user, display_name="Inès")
    assert selectors.user_display_name(user=user) == "Inès"
