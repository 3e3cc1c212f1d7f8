"""Writes about a person's account as a whole: their profile settings, the Facebook
platform callbacks (data deletion, deauthorise) and the deletion of the account.

Each runs in one transaction: a failure anywhere writes nothing. What is deleted, what is
kept and why is in docs/privacy.md.

The ``User`` row itself is never deleted: memberships, invitations and, later, bookings
and payments point at it, and financial records must keep a valid foreign key. It is
anonymised instead, and higher apps anonymise what they hold through
``groups.signals.user_anonymising``.
"""

import logging
import secrets
from importlib import import_module

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, InvalidInput
from groups import exports, services
from groups.models import DataDeletionRequest, FriendGroup, Invitation, Membership, Profile
from groups.signals import group_changed, user_anonymising
from notices.services import messages_forget

logger = logging.getLogger(__name__)

FACEBOOK = "facebook"
# The name shown for someone whose name was deleted. Stored as data (other members' pages
# show it as it is), so it is one fixed text rather than a translation of the moment.
FORMER_TRAVELLER_NAME = "Former traveller"
FACEBOOK_ID_MAX_LENGTH = Profile._meta.get_field("facebook_id").max_length
# Sessions we can find and delete row by row; with another engine (cache, signed cookies)
# the sessions die anyway: the password hash changes and the user is inactive.
DATABASE_SESSION_ENGINES = (
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
)


def _confirmation_code() -> str:
    # 24 random bytes, 32 URL-safe characters: the code is the only key to its status page.
    return secrets.token_urlsafe(24)


def _deletion_record(*, source: str, status: str) -> DataDeletionRequest:
    return DataDeletionRequest.objects.create(
        confirmation_code=_confirmation_code(),
        source=source,
        status=status,
        completed_at=timezone.now(),
    )


def _facebook_link_drop(user_ids) -> None:
    """Delete the Facebook login of these users: the link (with Facebook's profile data in
    ``extra_data``) and the stored user tokens."""
    SocialToken.objects.filter(account__user_id__in=user_ids, account__provider=FACEBOOK).delete()
    SocialAccount.objects.filter(user_id__in=user_ids, provider=FACEBOOK).delete()


def _users_with_facebook_id(facebook_id: str) -> list[int]:
    """Who this app-scoped Facebook id belongs to: by the profile, and by allauth's link
    (the two agree, but an operator's account may have only the link)."""
    by_profile = Profile.objects.filter(facebook_id=facebook_id).values_list("user_id", flat=True)
    by_link = SocialAccount.objects.filter(provider=FACEBOOK, uid=facebook_id).values_list(
        "user_id", flat=True
    )
    return sorted(set(by_profile) | set(by_link))


def _clean_facebook_id(facebook_id) -> str:
    facebook_id = str(facebook_id if facebook_id is not None else "").strip()
    return facebook_id if 0 < len(facebook_id) <= FACEBOOK_ID_MAX_LENGTH else ""


def _notify_groups(user_id: int, kind: str) -> None:
    """Tell the live plan of each group the person is in that they changed (after commit)."""
    group_ids = Membership.objects.filter(
        user_id=user_id, status__in=[Membership.Status.ACTIVE, Membership.Status.PENDING]
    ).values_list("group_id", flat=True)
    for group_id in sorted(group_ids):
        transaction.on_commit(
            lambda group_id=group_id: group_changed.send(
                sender=FriendGroup, group_id=group_id, kind=kind, user_id=user_id
            )
        )


# --- Profile -------------------------------------------------------------------------------


@transaction.atomic
def profile_update(*, user, display_name: str, preferred_language: str) -> Profile:
    """The person changes the name their friends see and the language we write to them in.

    Refused, writing nothing, for a blank name or a language we do not offer.
    """
    name = " ".join((display_name or "").split())
    errors = {}
    if not name:
        errors["display_name"] = [_("Please tell us your name.")]
    elif len(name) > services.DISPLAY_NAME_MAX_LENGTH:
        errors["display_name"] = [
            _("Keep it under %(count)d characters.") % {"count": services.DISPLAY_NAME_MAX_LENGTH}
        ]
    if preferred_language not in {code for code, _name in settings.LANGUAGES}:
        errors["preferred_language"] = [_("Choose one of the languages offered.")]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)
    profile = Profile.objects.select_for_update().filter(user=user).first()
    if profile is None:  # an operator created in the admin has none yet
        return Profile.objects.create(
            user=user, display_name=name, preferred_language=preferred_language
        )
    profile.display_name = name
    profile.preferred_language = preferred_language
    profile.save(update_fields=["display_name", "preferred_language", "updated_at"])
    return profile


# --- Facebook platform callbacks ---------------------------------------------------------


@transaction.atomic
def facebook_data_delete(*, facebook_id: str) -> DataDeletionRequest:
    """Facebook asks us to delete what we got from it about ``facebook_id``.

    Deleted: the Facebook link and token, the Facebook id, the picture, the name copied into
    the user's first and last name, and any e-mail address Facebook gave that the person
    never confirmed with us. A person with no confirmed address has no other way in and is
    known to their friends only by Facebook's name, so their display name is replaced too;
    someone who confirmed an address keeps the name they travel under.

    An unknown id still gets a confirmation code (status "nothing found"): the answer says
    nothing about who uses the app.
    """
    facebook_id = _clean_facebook_id(facebook_id)
    user_ids = _users_with_facebook_id(facebook_id) if facebook_id else []
    if not user_ids:
        return _deletion_record(
            source=DataDeletionRequest.Source.FACEBOOK_CALLBACK,
            status=DataDeletionRequest.Status.NOTHING_FOUND,
        )
    _facebook_link_drop(user_ids)
    users = get_user_model().objects.select_for_update().filter(pk__in=user_ids).order_by("pk")
    for user in users:
        EmailAddress.objects.filter(user=user, verified=False).delete()
        verified = list(
            EmailAddress.objects.filter(user=user, verified=True).order_by("-primary", "pk")
        )
        profile = Profile.objects.select_for_update().filter(user=user).first()
        if profile is not None:
            profile.facebook_id = None
            profile.avatar_url = ""
            if not verified:
                profile.display_name = FORMER_TRAVELLER_NAME
            profile.save(update_fields=["facebook_id", "avatar_url", "display_name", "updated_at"])
        user.first_name = ""
        user.last_name = ""
        if user.email and user.email.lower() not in {a.email.lower() for a in verified}:
            user.email = verified[0].email if verified else ""
        if not verified:
            # allauth made the username out of Facebook's name.
            user.username = f"former-{user.pk}"
        user.save(update_fields=["first_name", "last_name", "email", "username"])
        _notify_groups(user.pk, "member_anonymised")
    logger.info("Facebook data deletion done for %d account(s)", len(user_ids))
    return _deletion_record(
        source=DataDeletionRequest.Source.FACEBOOK_CALLBACK,
        status=DataDeletionRequest.Status.DONE,
    )


@transaction.atomic
def facebook_deauthorise(*, facebook_id: str) -> bool:
    """The person removed our app on Facebook: drop the Facebook link and token.

    Their account, name and trips stay; they come back with a code sent to their e-mail
    address if they have one. Returns whether an account was linked to that id.
    """
    facebook_id = _clean_facebook_id(facebook_id)
    user_ids = _users_with_facebook_id(facebook_id) if facebook_id else []
    if not user_ids:
        return False
    _facebook_link_drop(user_ids)
    Profile.objects.filter(user_id__in=user_ids).update(facebook_id=None, updated_at=timezone.now())
    return True


# --- Deleting one's account ----------------------------------------------------------------


def _sessions_delete(user_id: int) -> None:
    if settings.SESSION_ENGINE not in DATABASE_SESSION_ENGINES:
        return
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    wanted = str(user_id)
    # Sessions are opaque rows: each live one is decoded to find the person's. This is
    # linear in the number of live sessions, once per account deletion.
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == wanted:
            store_class(session_key=session.session_key).delete()


def _groups_leave(user) -> None:
    """Leave every group the person is in or waiting for, handing the organiser role to the
    longest-standing other traveller first. Groups are locked in id order (no deadlock)."""
    memberships = Membership.objects.filter(
        user=user, status__in=[Membership.Status.ACTIVE, Membership.Status.PENDING]
    ).order_by("group_id")
    for group_id in list(memberships.values_list("group_id", flat=True)):
        # Locked before choosing the successor, so they cannot leave in between.
        FriendGroup.objects.select_for_update().filter(pk=group_id).first()
        membership = Membership.objects.get(group_id=group_id, user=user)
        if membership.is_organiser:
            successor = (
                Membership.objects.filter(group_id=group_id, status=Membership.Status.ACTIVE)
                .exclude(user=user)
                .order_by("joined_at", "pk")
                .first()
            )
            if successor is not None:
                services.organiser_hand_over(
                    group_id=group_id, by=user, to_user_id=successor.user_id
                )
        services.membership_leave(group_id=group_id, user=user)


class _DryRun(Exception):
    pass


def account_delete_check(*, user) -> DomainError | None:
    """What deleting ``user``'s account would be refused with right now (a checkout under
    way that counts them as a traveller: ``travellers_fixed``), or None: the delete page
    says it before anyone confirms. The deletion itself, rolled back: one rule, and
    nothing it would send after commit is sent."""
    try:
        with transaction.atomic():
            account_delete(user=user)
            raise _DryRun
    except _DryRun:
        return None
    except DomainError as refusal:
        return refusal


@transaction.atomic
def account_delete(*, user) -> DataDeletionRequest:
    """The person deletes their account, from their account page.

    They leave every group (the organiser role goes to the longest-standing other
    traveller), their invitations stop working, their logins (Facebook link and token,
    e-mail addresses, sessions) are deleted, and their profile and user are anonymised and
    deactivated. The user row stays, so that records other people need (a group's history,
    later bookings and payments) keep a valid, anonymous reference.
    """
    User = get_user_model()
    user = User.objects.select_for_update().get(pk=user.pk)
    # Inside the transaction: if a higher app cannot anonymise its records, nothing is
    # done. First, so that what they settle (future tickets cancelled and refunded) is
    # settled before the person leaves their groups, which asks the same apps whether
    # they may (groups.signals.membership_ending: a checkout under way refuses).
    user_anonymising.send(sender=User, user_id=user.pk)
    _groups_leave(user)
    # What each app's export section holds is erased by the same registry (what is kept,
    # anonymised, is said on the delete page: exports.kept_on_deletion).
    exports.erase_all(user)

    addresses = {user.email.lower()} if user.email else set()
    addresses |= {
        e.lower() for e in EmailAddress.objects.filter(user=user).values_list("email", flat=True)
    }
    now = timezone.now()
    Invitation.objects.filter(created_by=user, revoked_at__isnull=True).update(revoked_at=now)
    sent_to_them = Q(invitee=user)
    for address in addresses:
        sent_to_them |= Q(invitee_email__iexact=address)
    Invitation.objects.filter(sent_to_them, revoked_at__isnull=True).update(revoked_at=now)
    for address in addresses:
        # Their address in someone else's invitation is still theirs.
        Invitation.objects.filter(invitee_email__iexact=address).update(invitee_email="")

    SocialToken.objects.filter(account__user=user).delete()
    SocialAccount.objects.filter(user=user).delete()
    EmailAddress.objects.filter(user=user).delete()
    _sessions_delete(user.pk)
    messages_forget(user_id=user.pk, addresses=addresses)  # nothing more goes to them

    Profile.objects.filter(user=user).update(
        display_name=FORMER_TRAVELLER_NAME, avatar_url="", facebook_id=None, updated_at=now
    )
    user.username = f"deleted-{user.pk}"
    user.email = ""
    user.first_name = ""
    user.last_name = ""
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.set_unusable_password()
    user.save()
    logger.info("Account %s deleted", user.pk)
    return _deletion_record(
        source=DataDeletionRequest.Source.ACCOUNT_PAGE, status=DataDeletionRequest.Status.DONE
    )
