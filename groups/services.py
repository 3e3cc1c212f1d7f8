"""Writes about people, each in one transaction. Called by the login adapters
(``groups.identity``) and the signup form; see docs/identity.md."""

import datetime as dt
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, InvalidInput
from groups.errors import (
    FriendNotSuggested,
    GroupFull,
    GroupNotFound,
    GroupNotJoinable,
    InvitationForSomeoneElse,
    InvitationNotFound,
    MemberNotFound,
    NotMember,
    NotOrganiser,
    OrganiserMustHandOver,
    RemovedFromGroup,
)
from groups.join_checks import join_check
from groups.models import FriendGroup, Invitation, Membership, Profile
from groups.selectors import (
    address_owner_id,
    email_invitation_token,
    hash_token,
    invitation_check,
    invitation_validate,
    languages_of,
    user_owns_address,
)
from groups.signals import GROUP_EVENT_KINDS, group_changed, membership_ending
from notices.services import message_queue

DISPLAY_NAME_MAX_LENGTH = Profile._meta.get_field("display_name").max_length
AVATAR_URL_MAX_LENGTH = Profile._meta.get_field("avatar_url").max_length


def _language_or_blank(language: str | None) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    language = (language or "").split("-")[0].lower()
    return language if language in codes else ""


def _clean_name(name: str | None) -> str:
    return " ".join((name or "").split())[:DISPLAY_NAME_MAX_LENGTH]


def _clean_avatar_url(url: str | None) -> str:
    # Only an http(s) URL that fits is kept: it ends up in an <img src>.
    if not url or len(url) > AVATAR_URL_MAX_LENGTH or not url.startswith(("https://", "http://")):
        return ""
    return url


@transaction.atomic
def profile_create(*, user, display_name: str, language: str | None = None) -> Profile:
    """The profile of someone who signed up with an e-mail address and a name.

    Idempotent: a second call leaves an existing profile as it is.
    """
    profile, _created = Profile.objects.get_or_create(
        user=user,
        defaults={
            "display_name": _clean_name(display_name) or user.email,
            "preferred_language": _language_or_blank(language),
        },
    )
    return profile


@transaction.atomic
def profile_create_or_update_from_facebook(
    *,
    user,
    facebook_id: str,
    name: str | None,
    picture_url: str | None,
    language: str | None = None,
) -> Profile:
    """Create or refresh the profile of someone who logged in with Facebook.

    The name and picture are Facebook's each time (people change them there); the
    preferred language is set once, from the page they signed up on, and then is theirs.
    """
    profile = Profile.objects.select_for_update().filter(user=user).first()
    name = _clean_name(name)
    if profile is None:
        return Profile.objects.create(
            user=user,
            facebook_id=facebook_id,
            display_name=name or user.email or facebook_id,
            avatar_url=_clean_avatar_url(picture_url),
            preferred_language=_language_or_blank(language),
        )
    profile.facebook_id = facebook_id
    if name:
        profile.display_name = name
    profile.avatar_url = _clean_avatar_url(picture_url)
    if not profile.preferred_language:
        profile.preferred_language = _language_or_blank(language)
    profile.save()
    return profile


# --- Friend groups, memberships and invitations ------------------------------------------
#
# Each write locks the group row first (``select_for_update``; SQLite serialises writers
# with its IMMEDIATE transactions), checks the rule against the current state, writes, and
# sends ``group_changed`` after commit. A refused request writes nothing.


def _config(key: str):
    return settings.SIDEBYSIDE[key]


def _notify(group_id: int, kind: str, user_id: int | None) -> None:
    assert kind in GROUP_EVENT_KINDS, kind
    transaction.on_commit(
        lambda: group_changed.send(
            sender=FriendGroup, group_id=group_id, kind=kind, user_id=user_id
        )
    )


def _membership_ending(group_id: int, user_id: int, kind: str) -> None:
    """Ask the higher apps whether a traveller may stop travelling with the group now
    (``membership_ending``): one of them raises its refusal when its rule says no."""
    membership_ending.send(sender=Membership, group_id=group_id, user_id=user_id, kind=kind)


@transaction.atomic
def membership_end_check(*, group_id: int, user_id: int, kind: str) -> DomainError | None:
    """What leaving (``member_left``) or being removed (``member_removed``) would be
    refused with right now, or None: the leave and remove pages say it before anyone
    confirms. The same receivers as the real change, in a transaction that writes nothing."""
    _lock_group(group_id)
    try:
        _membership_ending(group_id, user_id, kind)
    except DomainError as refusal:
        return refusal
    return None


def _lock_group(group_id: int) -> FriendGroup:
    group = FriendGroup.objects.select_for_update().filter(pk=group_id).first()
    if group is None:
        raise GroupNotFound()
    return group


def _membership(group: FriendGroup, user) -> Membership | None:
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.select_for_update().filter(group=group, user=user).first()


def _outsider_refusal(group: FriendGroup, membership: Membership | None):
    """What someone who is not an active traveller is told, as ``group_access`` decides
    what they may see: a group they cannot see (private, or reached by its link only) does
    not exist for them, so its id tells a stranger nothing; a public group, or one they
    wait to join, refuses them as a non-member."""
    waiting = membership is not None and membership.status == Membership.Status.PENDING
    if group.privacy != FriendGroup.Privacy.PUBLIC and not waiting:
        return GroupNotFound()
    return NotMember()


def _require_member(group: FriendGroup, user) -> Membership:
    membership = _membership(group, user)
    if membership is None or not membership.is_active:
        raise _outsider_refusal(group, membership)
    return membership


def _require_organiser(group: FriendGroup, user) -> Membership:
    membership = _require_member(group, user)
    if not membership.is_organiser:
        raise NotOrganiser()
    return membership


def _validate_max_members(max_members: int, *, active: int = 0) -> int:
    limit = _config("GROUP_MAX_MEMBERS_LIMIT")
    if not 2 <= max_members <= limit:
        raise InvalidInput(
            _("A trip takes between 2 and %(limit)d travellers.") % {"limit": limit},
            fields={
                "max_members": [_("Choose a number between 2 and %(limit)d.") % {"limit": limit}]
            },
        )
    if max_members < active:
        raise InvalidInput(
            _("The trip already has %(count)d travellers.") % {"count": active},
            fields={"max_members": [_("Choose at least %(count)d.") % {"count": active}]},
        )
    return max_members


def _clean_group_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput(
            _("Give the trip a name."), fields={"name": [_("This field is required.")]}
        )
    return name[: FriendGroup._meta.get_field("name").max_length]


@transaction.atomic
def group_create(
    *,
    organiser,
    name: str,
    privacy: str = FriendGroup.Privacy.PRIVATE,
    requires_approval: bool = False,
    max_members: int | None = None,
) -> FriendGroup:
    """A new friend group with ``organiser`` as its organiser."""
    if privacy not in FriendGroup.Privacy.values:
        raise InvalidInput(fields={"privacy": [_("Choose private, link or public.")]})
    group = FriendGroup.objects.create(
        name=_clean_group_name(name),
        privacy=privacy,
        requires_approval=requires_approval,
        max_members=_validate_max_members(
            max_members if max_members is not None else _config("GROUP_MAX_MEMBERS_DEFAULT")
        ),
    )
    Membership.objects.create(
        group=group,
        user=organiser,
        role=Membership.Role.ORGANISER,
        status=Membership.Status.ACTIVE,
    )
    return group


@transaction.atomic
def group_update(
    *,
    group_id: int,
    by,
    name: str | None = None,
    privacy: str | None = None,
    requires_approval: bool | None = None,
    max_members: int | None = None,
) -> FriendGroup:
    """The organiser changes the group's name, privacy, approval rule or size."""
    group = _lock_group(group_id)
    _require_organiser(group, by)
    if name is not None:
        group.name = _clean_group_name(name)
    if privacy is not None:
        if privacy not in FriendGroup.Privacy.values:
            raise InvalidInput(fields={"privacy": [_("Choose private, link or public.")]})
        group.privacy = privacy
    if requires_approval is not None:
        group.requires_approval = requires_approval
    if max_members is not None:
        active = group.memberships.filter(status=Membership.Status.ACTIVE).count()
        group.max_members = _validate_max_members(max_members, active=active)
    group.save()
    _notify(group.pk, "group_updated", by.pk)
    return group


def _may_invite(group: FriendGroup, membership: Membership) -> bool:
    return membership.is_organiser or _config("MEMBERS_CAN_INVITE")


@transaction.atomic
def invitation_create(
    *,
    group_id: int,
    by,
    channel: str = Invitation.Channel.LINK,
    ttl_days: int | None = None,
    max_uses: int | None = None,
    invitee=None,
    invitee_email: str = "",
) -> tuple[Invitation, str]:
    """A new invitation and its secret token (returned once: only its hash is stored).

    A personal invitation (a Facebook friend, an e-mail address) is used once; a shared
    link as often as the group has room, until it expires or is revoked.
    """
    group = _lock_group(group_id)
    membership = _require_member(group, by)
    if not _may_invite(group, membership):
        raise NotOrganiser(_("Only the trip's organiser can invite people."))
    if channel not in Invitation.Channel.values:
        raise InvalidInput(fields={"channel": [_("Unknown channel.")]})
    max_ttl = _config("INVITATION_MAX_TTL_DAYS")
    ttl_days = ttl_days if ttl_days is not None else _config("INVITATION_TTL_DAYS")
    if not 1 <= ttl_days <= max_ttl:
        raise InvalidInput(
            fields={"ttl_days": [_("Choose between 1 and %(max)d days.") % {"max": max_ttl}]}
        )
    if max_uses is not None and max_uses < 1:
        raise InvalidInput(fields={"max_uses": [_("Choose at least 1.")]})
    join_check(group.pk)  # no new invitation into a trip that admits nobody any more
    if invitee is not None:
        if Membership.objects.filter(
            group=group, user=invitee, status=Membership.Status.ACTIVE
        ).exists():
            raise InvalidInput(_("%(name)s is already on this trip.") % {"name": str(invitee)})
        max_uses = 1
    if invitee_email:
        max_uses = 1
    token = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        group=group,
        created_by=by,
        token_hash=hash_token(token),
        channel=channel,
        invitee=invitee,
        invitee_email=invitee_email,
        expires_at=timezone.now() + dt.timedelta(days=ttl_days),
        max_uses=max_uses,
    )
    if invitee_email:
        token = _invitation_email(invitation, by)
    return invitation, token


def _invitation_email(invitation: Invitation, by) -> str:
    """An invitation sent to an address: its token becomes one the worker can derive again
    (``email_invitation_token``) and the "invited" e-mail is queued in this transaction,
    to the account that reads mail there if there is one (its language, its preferences),
    else to the address alone, in the inviter's language. Returns the token."""
    token = email_invitation_token(invitation=invitation)
    invitation.token_hash = hash_token(token)
    invitation.save(update_fields=["token_hash"])
    owner_id = address_owner_id(email=invitation.invitee_email)
    inviter_language = languages_of([by.pk]).get(by.pk, "")
    message_queue(
        kind="groups.invited",
        object_id=invitation.pk,
        recipient_ids=[owner_id] if owner_id else [],
        addresses=[] if owner_id else [invitation.invitee_email],
        language=inviter_language,
    )
    return token


@transaction.atomic
def invitation_revoke(*, invitation_id: int, by) -> Invitation:
    """Withdraw an invitation; idempotent. The organiser, or the member who created it."""
    invitation = Invitation.objects.filter(pk=invitation_id).first()
    if invitation is None:
        raise InvitationNotFound()
    group = _lock_group(invitation.group_id)
    membership = _require_member(group, by)
    if not (membership.is_organiser or invitation.created_by_id == by.pk):
        raise NotOrganiser(_("Only the trip's organiser can withdraw this invitation."))
    invitation = Invitation.objects.select_for_update().get(pk=invitation_id)
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def _join(group: FriendGroup, user, *, invitation: Invitation | None) -> Membership:
    """Add ``user`` to the locked ``group``: active, or pending when the organiser approves
    joiners. Joining again is harmless: an active or pending member stays as they are."""
    membership = _membership(group, user)
    if membership is not None:
        if membership.status in (Membership.Status.ACTIVE, Membership.Status.PENDING):
            return membership
        if membership.status == Membership.Status.REMOVED:
            raise RemovedFromGroup()
    join_check(group.pk)
    active = group.memberships.filter(status=Membership.Status.ACTIVE).count()
    if active >= group.max_members:
        raise GroupFull()
    status = Membership.Status.PENDING if group.requires_approval else Membership.Status.ACTIVE
    if membership is None:
        membership = Membership.objects.create(
            group=group, user=user, status=status, invitation=invitation
        )
    else:  # they had left, and come back
        membership.status = status
        membership.role = Membership.Role.MEMBER
        membership.invitation = invitation
        membership.shares_details = False
        membership.save()
    if invitation is not None:
        Invitation.objects.filter(pk=invitation.pk).update(uses=F("uses") + 1)
    _notify(
        group.pk,
        "member_pending" if status == Membership.Status.PENDING else "member_joined",
        user.pk,
    )
    return membership


@transaction.atomic
def invitation_accept(*, token: str, user) -> Membership:
    """``user`` joins the group of the invitation behind ``token``.

    Refused, writing nothing, for an unknown, forged, expired, revoked or used-up
    invitation, one sent to someone else (another account, or an address ``user`` has not
    confirmed), a full group, or someone the organiser removed.
    """
    invitation = invitation_check(token=token)
    group = _lock_group(invitation.group_id)
    invitation = invitation_check(token=token, for_update=True)  # again, under the lock
    if invitation.invitee_id is not None and invitation.invitee_id != user.pk:
        raise InvitationForSomeoneElse()
    # An invitation sent to an address is for whoever reads mail there: a forwarded or
    # leaked link is not enough (the link is not a key to the trip; the address is).
    if invitation.invitee_email and not user_owns_address(
        user=user, email=invitation.invitee_email
    ):
        raise InvitationForSomeoneElse(
            _(
                "This invitation was sent to another e-mail address. Log in with that "
                "address, or ask the organiser for a link of your own."
            )
        )
    return _join(group, user, invitation=invitation)


@transaction.atomic
def invitation_accept_personal(*, invitation_id: int, user) -> Membership:
    """``user`` accepts an invitation sent to them (listed on their trips page, where the
    secret token is not at hand): the same checks as with the token."""
    invitation = Invitation.objects.filter(pk=invitation_id, invitee=user).first()
    if invitation is None:
        raise InvitationNotFound()
    group = _lock_group(invitation.group_id)
    invitation = Invitation.objects.select_for_update().get(pk=invitation_id)
    invitation_validate(invitation)
    return _join(group, user, invitation=invitation)


@transaction.atomic
def group_join_public(*, group_id: int, user) -> Membership:
    """Join a public group (listed on an event's page) without an invitation."""
    group = _lock_group(group_id)
    if group.privacy != FriendGroup.Privacy.PUBLIC:
        membership = _membership(group, user)
        if membership is None:
            raise GroupNotFound()  # private or link: not there for a stranger
        if membership.status not in (Membership.Status.ACTIVE, Membership.Status.PENDING):
            raise GroupNotJoinable()
    return _join(group, user, invitation=None)


def _other_membership(group: FriendGroup, user_id: int) -> Membership:
    # ``user__pk``, not ``user_id``: the id comes from a URL or a form, and only a lookup on
    # the key itself knows its range (an id the database cannot hold matches nothing; on
    # the foreign key column SQLite would raise OverflowError, a 500).
    membership = (
        Membership.objects.select_for_update().filter(group=group, user__pk=user_id).first()
    )
    if membership is None:
        raise MemberNotFound()
    return membership


@transaction.atomic
def membership_approve(*, group_id: int, by, user_id: int) -> Membership:
    group = _lock_group(group_id)
    _require_organiser(group, by)
    membership = _other_membership(group, user_id)
    if membership.status == Membership.Status.ACTIVE:
        return membership
    if membership.status != Membership.Status.PENDING:
        raise MemberNotFound(_("That person is not waiting to join."))
    join_check(group.pk)
    if group.memberships.filter(status=Membership.Status.ACTIVE).count() >= group.max_members:
        raise GroupFull()
    membership.status = Membership.Status.ACTIVE
    membership.save(update_fields=["status", "updated_at"])
    _notify(group.pk, "member_approved", user_id)
    return membership


@transaction.atomic
def membership_reject(*, group_id: int, by, user_id: int) -> Membership:
    group = _lock_group(group_id)
    _require_organiser(group, by)
    membership = _other_membership(group, user_id)
    if membership.status != Membership.Status.PENDING:
        raise MemberNotFound(_("That person is not waiting to join."))
    membership.status = Membership.Status.REMOVED
    membership.save(update_fields=["status", "updated_at"])
    _notify(group.pk, "member_rejected", user_id)
    return membership


@transaction.atomic
def membership_remove(*, group_id: int, by, user_id: int) -> Membership:
    """The organiser takes a traveller off the trip. They cannot rejoin by a link."""
    group = _lock_group(group_id)
    organiser = _require_organiser(group, by)
    if user_id == organiser.user_id:
        raise OrganiserMustHandOver(_("Hand the organiser role over before you leave."))
    membership = _other_membership(group, user_id)
    if membership.status not in (Membership.Status.ACTIVE, Membership.Status.PENDING):
        raise MemberNotFound()
    if membership.is_active:
        _membership_ending(group.pk, user_id, "member_removed")
    membership.status = Membership.Status.REMOVED
    membership.save(update_fields=["status", "updated_at"])
    _notify(group.pk, "member_removed", user_id)
    return membership


@transaction.atomic
def membership_leave(*, group_id: int, user) -> Membership:
    """A traveller leaves. The organiser hands the role over first, unless they are the
    last one, in which case the group is simply left empty."""
    group = _lock_group(group_id)
    membership = _membership(group, user)
    if membership is None or membership.status not in (
        Membership.Status.ACTIVE,
        Membership.Status.PENDING,
    ):
        raise _outsider_refusal(group, membership)
    if membership.is_organiser:
        others = group.memberships.filter(status=Membership.Status.ACTIVE).exclude(pk=membership.pk)
        if others.exists():
            raise OrganiserMustHandOver()
        membership.role = Membership.Role.MEMBER
    if membership.is_active:
        _membership_ending(group.pk, user.pk, "member_left")
    membership.status = Membership.Status.LEFT
    membership.save(update_fields=["status", "role", "updated_at"])
    _notify(group.pk, "member_left", user.pk)
    return membership


@transaction.atomic
def organiser_hand_over(*, group_id: int, by, to_user_id: int) -> Membership:
    """The organiser makes another active traveller the organiser and becomes a member."""
    group = _lock_group(group_id)
    current = _require_organiser(group, by)
    if to_user_id == current.user_id:
        return current
    successor = _other_membership(group, to_user_id)
    if not successor.is_active:
        raise MemberNotFound()
    current.role = Membership.Role.MEMBER
    current.save(update_fields=["role", "updated_at"])  # first: one active organiser at a time
    successor.role = Membership.Role.ORGANISER
    successor.save(update_fields=["role", "updated_at"])
    _notify(group.pk, "organiser_changed", to_user_id)
    return successor


@transaction.atomic
def membership_share_details(*, group_id: int, user, shares: bool) -> Membership:
    """A traveller chooses whether the others see their discount card, age and price."""
    group = _lock_group(group_id)
    membership = _require_member(group, user)
    if membership.shares_details != shares:
        membership.shares_details = shares
        membership.save(update_fields=["shares_details", "updated_at"])
        _notify(group.pk, "member_details_shared", user.pk)
    return membership


@transaction.atomic
def person_create(*, name: str, email: str, language: str = "") -> Profile:
    """Someone with a verified e-mail address who logs in by code: the demo's travellers.
    Idempotent on the address."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    email = email.strip().lower()
    address = EmailAddress.objects.select_related("user").filter(email__iexact=email).first()
    if address is not None:
        return profile_create(user=address.user, display_name=name, language=language)
    user = get_user_model().objects.create_user(
        username=f"person-{secrets.token_hex(6)}", email=email
    )
    user.set_unusable_password()
    user.save(update_fields=["password"])
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return profile_create(user=user, display_name=name, language=language)


def invitation_create_for_friend(*, group_id: int, by, friend_user_id: int):
    """A personal invitation for one of ``by``'s Facebook friends who use the app: it shows
    on the friend's trips page. Only someone ``groups.friends`` suggests to ``by`` for this
    group can be invited this way, so an id cannot be used to probe for accounts. Facebook
    is asked before the group is locked (no lock is held during a network call)."""
    from django.contrib.auth import get_user_model

    from groups.friends import facebook_friend_suggestions

    suggestions = facebook_friend_suggestions(user=by, group_id=group_id)
    if friend_user_id not in {friend.user_id for friend in suggestions.friends}:
        raise FriendNotSuggested()
    invitee = get_user_model().objects.get(pk=friend_user_id)
    return invitation_create(
        group_id=group_id, by=by, channel=Invitation.Channel.FACEBOOK_FRIEND, invitee=invitee
    )
