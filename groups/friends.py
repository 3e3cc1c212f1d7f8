"""Facebook friends to suggest for a trip: the person's friends who also use Sidebyside
(the only ones Facebook lists) and are not already in the group.

A suggestion, never a requirement: whenever Facebook cannot answer, or the person has no
Facebook login, the answer says so (``available`` is False, with a message to show) and
the page offers the other ways to invite. Nothing here raises a Facebook error.
"""

import logging
from dataclasses import dataclass, field

from allauth.socialaccount.models import SocialToken
from django.utils import timezone
from django.utils.translation import gettext as _

from groups import facebook
from groups.errors import (
    FacebookError,
    FacebookTokenRefused,
    FacebookUnavailable,
    GroupNotFound,
    NotMember,
)
from groups.models import Membership, Profile
from groups.selectors import group_access

logger = logging.getLogger(__name__)

FACEBOOK = "facebook"
# Friends asked per Graph page; facebook.friends_using_app bounds the total and the pages.
FRIENDS_PAGE_SIZE = facebook.FRIENDS_PAGE_SIZE


@dataclass(frozen=True)
class FriendSuggestion:
    user_id: int
    name: str
    avatar_url: str


@dataclass(frozen=True)
class FriendSuggestions:
    available: bool  # False: Facebook could not be asked; ``message`` says why
    friends: list[FriendSuggestion] = field(default_factory=list)
    message: str = ""


def _facebook_token(user) -> str | None:
    """The user's stored Facebook token (``SOCIALACCOUNT_STORE_TOKENS``), if still valid."""
    token = (
        SocialToken.objects.filter(account__user=user, account__provider=FACEBOOK)
        .order_by("-pk")
        .first()
    )
    if token is None or not token.token:
        return None
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return ""  # known expired: Facebook would refuse it
    return token.token


def facebook_friend_suggestions(*, user, group_id: int) -> FriendSuggestions:
    """Friends of ``user`` on Facebook who use Sidebyside and are not in the group.

    Only a member of the group may ask (anyone else: ``GroupNotFound``, or ``NotMember``
    for someone still waiting for approval). People already in the group, waiting to join
    or taken off it by the organiser are left out. Three queries, plus the Graph calls.
    """
    access = group_access(user=user, group_id=group_id)
    if not access.is_member:
        if access.is_pending:
            raise NotMember()
        raise GroupNotFound()

    token = _facebook_token(user)
    if token is None:
        return FriendSuggestions(
            available=False,
            message=_("Log in with Facebook to see your friends who use Sidebyside."),
        )
    try:
        if not token:
            raise FacebookTokenRefused()
        friends = facebook.friends_using_app(token, page_size=FRIENDS_PAGE_SIZE)
    except FacebookTokenRefused:
        return FriendSuggestions(
            available=False,
            message=_(
                "Your Facebook login has expired. Log in with Facebook again to see your "
                "friends who use Sidebyside."
            ),
        )
    except FacebookUnavailable:
        return FriendSuggestions(
            available=False,
            message=_(
                "Facebook cannot be reached right now, so we cannot suggest friends. Try "
                "again in a moment, or share the invitation link."
            ),
        )
    except FacebookError:
        logger.warning("Friend suggestions failed for user %s", user.pk, exc_info=True)
        return FriendSuggestions(
            available=False,
            message=_(
                "Facebook did not give us your friends list. Share the invitation link instead."
            ),
        )

    order = {friend.id: position for position, friend in enumerate(friends)}
    in_group = Membership.objects.filter(
        group_id=group_id,
        status__in=[
            Membership.Status.ACTIVE,
            Membership.Status.PENDING,
            Membership.Status.REMOVED,
        ],
    ).values("user_id")
    profiles = (
        Profile.objects.filter(facebook_id__in=list(order), user__is_active=True)
        .exclude(user=user)
        .exclude(user_id__in=in_group)
    )
    profiles = sorted(profiles, key=lambda profile: order[profile.facebook_id])
    return FriendSuggestions(
        available=True,
        friends=[
            FriendSuggestion(
                user_id=profile.user_id, name=profile.display_name, avatar_url=profile.avatar_url
            )
            for profile in profiles
        ],
        message=""
        if profiles
        else _(
            "No friend to suggest: your Facebook friends who use Sidebyside are on this trip "
            "already, or none of them uses it yet. Share the invitation link with the others."
        ),
    )
