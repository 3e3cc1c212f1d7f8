"""Facebook friends to suggest for a trip, read from the fake Facebook over HTTP with the
token stored at login: friends who use Sidebyside and are not in the group yet. Whatever
Facebook does, the answer is a FriendSuggestions, never an exception."""

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.urls import reverse
from django.utils import translation

from groups import friends as friends_module
from groups import services
from groups.errors import GroupNotFound, NotMember
from groups.friends import FriendSuggestion, FriendSuggestions, facebook_friend_suggestions
from tests import factories
from tests.groups.conftest import ALICE, FRIENDS_USING_APP, SLOW_SAM, STRANGER
from tests.groups.test_login_facebook import dialog_choose, login_start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture(autouse=True)
def english():
    """The assertions read the English source of the messages."""
    with translation.override("en"):
        yield


def facebook_traveller(fake_user, *, token: str | None = None):
    """One of our users who logged in with Facebook (``token``: their stored token)."""
    user = factories.user(fake_user.name, facebook_id=fake_user.id)
    account = SocialAccount.objects.create(user=user, provider="facebook", uid=fake_user.id)
    if token:
        SocialToken.objects.create(account=account, token=token)
    return user


@pytest.fixture
def alice(fake_facebook, facebook_settings):
    return facebook_traveller(ALICE, token=fake_facebook.user_token_issue(ALICE.id))


@pytest.fixture
def friends_here():
    """Alice's five friends who use the app, each with an account here."""
    return [facebook_traveller(friend) for friend in FRIENDS_USING_APP]


@pytest.fixture
def trip(alice):
    return factories.trip(organiser=alice)


def join(trip_obj, user):
    organiser = trip_obj.group.memberships.get(role="organiser").user
    _invitation, token = services.invitation_create(group_id=trip_obj.group_id, by=organiser)
    return services.invitation_accept(token=token, user=user)


def test_friends_who_use_the_app_are_suggested(alice, trip, friends_here, fake_facebook):
    facebook_traveller(STRANGER)  # uses the app, but is not Alice's friend

    answer = facebook_friend_suggestions(user=alice, group_id=trip.group_id)

    assert answer.available is True
    assert answer.message == ""
    assert answer.friends == [
        FriendSuggestion(user_id=user.pk, name=user.profile.display_name, avatar_url="")
        for user in friends_here
    ]
    friends_calls = [r for r in fake_facebook.requests if r.path.endswith("/me/friends")]
    assert friends_calls and "appsecret_proof" in friends_calls[0].params


def test_members_waiting_removed_and_gone_people_are_left_out(alice, trip, friends_here):
    member, waiting, removed, deactivated, suggested = friends_here
    join(trip, member)
    join(trip, removed)
    services.membership_remove(group_id=trip.group_id, by=alice, user_id=removed.pk)
    services.group_update(group_id=trip.group_id, by=alice, requires_approval=True)
    join(trip, waiting)
    deactivated.is_active = False
    deactivated.save()

    answer = facebook_friend_suggestions(user=alice, group_id=trip.group_id)

    assert answer.available is True
    assert [friend.user_id for friend in answer.friends] == [suggested.pk]


def test_a_friend_who_left_can_be_suggested_again(alice, trip, friends_here):
    friend = friends_here[0]
    join(trip, friend)
    services.membership_leave(group_id=trip.group_id, user=friend)

    answer = facebook_friend_suggestions(user=alice, group_id=trip.group_id)

    assert friend.pk in [f.user_id for f in answer.friends]


def test_every_page_of_friends_is_read(alice, trip, friends_here, fake_facebook, monkeypatch):
    monkeypatch.setattr(friends_module, "FRIENDS_PAGE_SIZE", 2)

    answer = facebook_friend_suggestions(user=alice, group_id=trip.group_id)

    assert [f.user_id for f in answer.friends] == [user.pk for user in friends_here]
    pages = [r for r in fake_facebook.requests if r.path.endswith("/me/friends")]
    assert len(pages) == 3
    assert [("after" in page.params) for page in pages] == [False, True, True]


def test_no_friend_to_suggest_says_so(alice, trip):
    answer = facebook_friend_suggestions(user=alice, group_id=trip.group_id)

    assert answer == FriendSuggestions(available=True, friends=[], message=answer.message)
    assert answer.message


def test_without_a_facebook_login_there_is_nothing_to_ask(facebook_settings, fake_facebook):
    guest = factories.user("Gabrielle Guest")
    trip = factories.trip(organiser=guest)

    answer = facebook_friend_suggestions(user=guest, group_id=trip.group_id)

    assert answer.available is False and answer.friends == []
    assert "Log in with Facebook" in answer.message
    assert fake_facebook.requests == []


def test_an_expired_token_asks_to_log_in_again(alice, trip, fake_facebook):
    fake_facebook.token_expire(SocialToken.objects.get().token)

    answer = facebook_friend_suggestions(user=alice, group_id=trip.group_id)

    assert answer.available is False
    assert "Log in with Facebook again" in answer.message


@pytest.mark.parametrize(
    "failure",
    [
        lambda fake: fake.graph_error_next(2, "Service temporarily unavailable", status=500),
        lambda fake: fake.graph_error_next(4, "Application request limit reached", status=403),
        lambda fake: fake.answer_next(502, "<html>Bad gateway</html>", content_type="text/html"),
        lambda fake: fake.answer_next(200, "not json", content_type="application/json"),
        lambda fake: fake.graph_error_next(100, "Invalid parameter"),
    ],
    ids=["down", "rate-limited", "proxy-error", "garbage", "other-error"],
)
def test_when_facebook_fails_the_answer_says_so(alice, trip, friends_here, fake_facebook, failure):
    failure(fake_facebook)

    answer = facebook_friend_suggestions(user=alice, group_id=trip.group_id)

    assert answer.available is False
    assert answer.friends == []
    assert answer.message


def test_when_facebook_is_too_slow_the_answer_says_so(facebook_settings, fake_facebook):
    facebook_settings.FACEBOOK_TIMEOUT_SECONDS = 0.5
    sam = facebook_traveller(SLOW_SAM, token=fake_facebook.user_token_issue(SLOW_SAM.id))
    trip = factories.trip(organiser=sam)

    answer = facebook_friend_suggestions(user=sam, group_id=trip.group_id)

    assert answer.available is False
    assert "cannot be reached" in answer.message


def test_facebook_being_unreachable_is_not_an_error(alice, trip, facebook_settings):
    facebook_settings.FACEBOOK_GRAPH_URL = "http://127.0.0.1:9"  # nothing listens there

    answer = facebook_friend_suggestions(user=alice, group_id=trip.group_id)

    assert answer.available is False


def test_a_stranger_cannot_ask(alice, trip, fake_facebook):
    stranger = facebook_traveller(STRANGER, token=fake_facebook.user_token_issue(STRANGER.id))

    with pytest.raises(GroupNotFound):
        facebook_friend_suggestions(user=stranger, group_id=trip.group_id)
    with pytest.raises(GroupNotFound):
        facebook_friend_suggestions(user=alice, group_id=trip.group_id + 1000)


def test_someone_waiting_for_approval_cannot_ask(alice, fake_facebook, friends_here):
    trip = factories.trip(organiser=alice, privacy="public", requires_approval=True)
    waiting = friends_here[0]
    services.group_join_public(group_id=trip.group_id, user=waiting)

    with pytest.raises(NotMember):
        facebook_friend_suggestions(user=waiting, group_id=trip.group_id)


def test_the_token_stored_at_login_is_the_one_used(client, facebook_settings, fake_facebook):
    """SOCIALACCOUNT_STORE_TOKENS: a real login through the fake keeps the token."""
    friends_here = [facebook_traveller(friend) for friend in FRIENDS_USING_APP[:2]]

    response = client.get(dialog_choose(login_start(client, fake_facebook), ALICE))

    assert response.status_code == 302
    alice = SocialAccount.objects.get(uid=ALICE.id).user
    assert SocialToken.objects.filter(account__user=alice).count() == 1
    trip = factories.trip(organiser=alice)
    answer = facebook_friend_suggestions(user=alice, group_id=trip.group_id)
    assert [f.user_id for f in answer.friends] == [user.pk for user in friends_here]

    # A second login refreshes the same token row rather than adding one.
    client.post(reverse("account_logout"))
    client.get(dialog_choose(login_start(client, fake_facebook), ALICE))
    assert SocialToken.objects.filter(account__user=alice).count() == 1
