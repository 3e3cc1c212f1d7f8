"""Reads about people and their friend groups. Each says how many queries it costs."""

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from groups.errors import (
    GroupNotFound,
    InvitationExpired,
    InvitationNotFound,
    InvitationRevoked,
    InvitationUsedUp,
)
from groups.models import FriendGroup, Invitation, Membership, Profile


def profile_get(*, user) -> Profile | None:
    """The user's profile, or None (operators created in the admin have none)."""
    if user is None or not user.is_authenticated:
        return None
    return Profile.objects.filter(user=user).first()


def user_display_name(*, user) -> str:
    """How to call someone on a page: their profile's name, else their e-mail address."""
    profile = profile_get(user=user)
    if profile is not None and profile.display_name:
        return profile.display_name
    return user.get_full_name() or user.email or user.get_username()


def user_display(user) -> str:
    """``ACCOUNT_USER_DISPLAY``: allauth's messages ("Signed in as …") name people as the
    pages do, never by the username it generated."""
    return user_display_name(user=user)


@dataclass(frozen=True)
class FacebookLoginState:
    available: bool  # an app id is configured (the real one, or the sandbox's)
    sandbox: bool  # the local fake Facebook, not the real one


def facebook_login_state() -> FacebookLoginState:
    """Whether the login page offers Facebook, and whether it is the local sandbox."""
    return FacebookLoginState(
        available=bool(settings.FACEBOOK_APP_ID and settings.FACEBOOK_APP_SECRET),
        sandbox=settings.FACEBOOK_SANDBOX,
    )


# --- Friend groups -------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupAccess:
    """What ``user`` may see of a group. ``membership`` is theirs (None for a stranger)."""

    group: FriendGroup
    membership: Membership | None

    @property
    def is_member(self) -> bool:
        return self.membership is not None and self.membership.is_active

    @property
    def is_organiser(self) -> bool:
        return self.membership is not None and self.membership.is_organiser

    @property
    def is_pending(self) -> bool:
        return self.membership is not None and self.membership.status == Membership.Status.PENDING


def group_access(*, user, group_id: int) -> GroupAccess:
    """The one access check for reading a group (two queries at most).

    A member, or someone waiting for approval, always gets it; anyone else only for a
    public group. Everyone else gets ``GroupNotFound``, as if the group did not exist: a
    private group is invisible, and a link group is reached through its invitation only.
    """
    group = FriendGroup.objects.filter(pk=group_id).first()
    if group is None:
        raise GroupNotFound()
    membership = None
    if user is not None and user.is_authenticated:
        membership = Membership.objects.filter(group=group, user=user).first()
    access = GroupAccess(group=group, membership=membership)
    if access.is_member or access.is_pending or group.privacy == FriendGroup.Privacy.PUBLIC:
        return access
    raise GroupNotFound()


@dataclass(frozen=True)
class MemberView:
    """One traveller as the others see them. ``details_visible``: whether the viewer may see
    their card, age and price (their own, or they chose to show them)."""

    user_id: int
    name: str
    avatar_url: str
    role: str
    status: str
    joined_at: object
    is_viewer: bool
    details_visible: bool
    shares_details: bool = False


def group_members(*, group: FriendGroup, viewer, include_pending: bool = False) -> list[MemberView]:
    """The group's travellers (and, for the organiser, those waiting), in joining order.

    One query whatever the group's size.
    """
    statuses = [Membership.Status.ACTIVE]
    if include_pending:
        statuses.append(Membership.Status.PENDING)
    memberships = (
        Membership.objects.filter(group=group, status__in=statuses)
        .select_related("user", "user__profile")
        .order_by("joined_at", "pk")
    )
    viewer_id = viewer.pk if viewer is not None and viewer.is_authenticated else None
    members = []
    for membership in memberships:
        profile = getattr(membership.user, "profile", None)
        name = (profile.display_name if profile else "") or membership.user.get_full_name()
        members.append(
            MemberView(
                user_id=membership.user_id,
                name=name or _("Traveller"),
                avatar_url=profile.avatar_url if profile else "",
                role=membership.role,
                status=membership.status,
                joined_at=membership.joined_at,
                is_viewer=membership.user_id == viewer_id,
                details_visible=membership.user_id == viewer_id or membership.shares_details,
                shares_details=membership.shares_details,
            )
        )
    return members


def user_memberships(*, user, statuses=(Membership.Status.ACTIVE, Membership.Status.PENDING)):
    """The user's memberships with their groups, newest first (one query)."""
    return list(
        Membership.objects.filter(user=user, status__in=statuses)
        .select_related("group")
        .order_by("-joined_at")
    )


def invitations_for_user(*, user) -> list[Invitation]:
    """Personal invitations sent to ``user`` that they can still accept (one query).

    The token is not stored, so the page accepts these by id (``invitation_accept_personal``).
    """
    now = timezone.now()
    return list(
        Invitation.objects.filter(invitee=user, revoked_at__isnull=True, expires_at__gt=now)
        .exclude(
            group__in=Membership.objects.filter(
                user=user,
                status__in=[
                    Membership.Status.ACTIVE,
                    Membership.Status.PENDING,
                    Membership.Status.REMOVED,
                ],
            ).values("group")
        )
        .select_related("group", "created_by__profile")
        .order_by("-created_at")
    )


def group_invitations(*, group: FriendGroup) -> list[Invitation]:
    """The group's invitations, newest first, for its organiser (one query)."""
    return list(group.invitations.select_related("invitee__profile").order_by("-created_at"))


def user_owns_address(*, user, email: str) -> bool:
    """Whether ``user`` proved they read mail at ``email`` (an address confirmed by a
    code, compared without case). One query."""
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


def hash_token(token: str) -> str:
    """Invitations store the SHA-256 of their token, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


_EMAIL_INVITATION_SALT = "groups.invitation.email"


def email_invitation_token(*, invitation: Invitation, secret: str | None = None) -> str:
    """The token of an invitation sent to an e-mail address: derived from the row (its id
    and creation time) with the site's secret key, so the worker that writes the e-mail
    later can put the link in it while the database still holds only the token's hash
    (a leaked database opens no trip; the secret key is needed too)."""
    created = invitation.created_at.astimezone(dt.UTC).isoformat()
    digest = salted_hmac(
        _EMAIL_INVITATION_SALT, f"{invitation.pk}:{created}", secret=secret, algorithm="sha256"
    ).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def email_invitation_token_find(*, invitation: Invitation) -> str | None:
    """The token of ``invitation`` under the current secret key or one of its fallbacks
    (a key rotated between the invitation and its e-mail), checked against the stored
    hash; ``None`` if none matches."""
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        token = email_invitation_token(invitation=invitation, secret=secret)
        if hash_token(token) == invitation.token_hash:
            return token
    return None


def address_owner_id(*, email: str) -> int | None:
    """The account whose e-mail address (confirmed, and the one it is written to) is
    ``email``, compared without case; ``None`` when nobody has it. One query."""
    from allauth.account.models import EmailAddress

    owner = (
        EmailAddress.objects.filter(email__iexact=email, verified=True, user__email__iexact=email)
        .values_list("user_id", flat=True)
        .first()
    )
    return owner


def invitation_check(*, token: str, for_update: bool = False) -> Invitation:
    """The invitation behind ``token``, or the error that says why it cannot be used.

    Unknown and forged tokens get the same answer; expired, revoked and used-up ones say
    so (their holder had a real link, and learns nothing more from it).
    """
    if not token or len(token) > 128:
        raise InvitationNotFound()
    queryset = Invitation.objects.select_related("group")
    if for_update:
        queryset = queryset.select_for_update()
    invitation = queryset.filter(token_hash=hash_token(token)).first()
    if invitation is None:
        raise InvitationNotFound()
    invitation_validate(invitation)
    return invitation


def invitation_validate(invitation: Invitation) -> None:
    """Raise why ``invitation`` cannot be used any more, if it cannot."""
    if invitation.revoked_at is not None:
        raise InvitationRevoked()
    if invitation.expires_at <= timezone.now():
        raise InvitationExpired()
    if invitation.max_uses is not None and invitation.uses >= invitation.max_uses:
        raise InvitationUsedUp()


def languages_of(user_ids: list[int]) -> dict[int, str]:
    """Each person's chosen language (``Profile.preferred_language``), for those who
    chose one."""
    return dict(
        Profile.objects.filter(user_id__in=user_ids)
        .exclude(preferred_language="")
        .values_list("user_id", "preferred_language")
    )
