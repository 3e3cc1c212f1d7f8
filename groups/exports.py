"""The "Download my data" export: everything we hold about a person, as one JSON document,
and what deleting the account does to each part of it (docs/privacy.md).

``groups`` writes its own sections (profile, e-mail addresses, memberships, invitations,
messages). Higher apps add theirs without ``groups`` importing them: each registers a
section in its ``AppConfig.ready()``, naming the models whose rows about the person it
exports, what account deletion erases of them, and what it keeps and why::

    from groups import exports
    exports.register(
        "travel", travel_export,            # travel_export(user) -> JSON-able value
        models=["booking.TravellerFare", …],
        erase=travel_erase,                 # travel_erase(user), in account_delete's transaction
        kept=_("Tickets … kept for accounting"),
    )

A model that points at a person but is not theirs to download is declared with
``not_exported(label, reason)``. ``tests/groups/test_export_registry.py`` walks every
model with a key to the user or the profile and fails when one is in neither list.
A section holds the person's own data only: never another member's e-mail address.
"""

from collections.abc import Callable
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.utils import timezone

from core.jsonable import iso_or_none as _when
from groups.models import Invitation, Membership, Profile
from notices.selectors import messages_export, preferences_export

FORMAT_VERSION = 2
OWN_SECTIONS = (
    "profile",
    "email_addresses",
    "facebook",
    "memberships",
    "invitations_created",
    "invitations_received",
    "messages",
    "message_preferences",
)
# The models groups' own sections export (deletion: groups.account_services.account_delete).
OWN_MODELS = (
    "auth.User",
    "groups.Profile",
    "groups.Membership",
    "groups.Invitation",
    "account.EmailAddress",
    "socialaccount.SocialAccount",
    "notices.Message",
    "notices.Preference",
)


@dataclass(frozen=True)
class Section:
    name: str
    export: Callable  # export(user) -> JSON-able value
    models: tuple[str, ...]  # "app_label.Model" whose rows about the person it exports
    erase: Callable | None  # erase(user): account deletion's part, inside its transaction
    kept: object  # what deletion keeps of it, and why (a lazy text for the delete page)


_sections: dict[str, Section] = {}
_left_out: dict[str, str] = {
    "admin.LogEntry": "staff actions in the admin: the operators' own log, not a traveller's",
}


def register(
    section_name: str,
    func: Callable,
    *,
    models=(),
    erase: Callable | None = None,
    kept="",
) -> None:
    """Add a section to every export: ``func(user)`` returns a JSON-able value; ``models``
    are the models it covers; ``erase(user)`` runs when the person deletes their account;
    ``kept`` says what deletion keeps, anonymised, and why.

    Registering the same name again replaces it (``ready()`` may run twice in tests); a
    name of ``groups``' own sections is refused.
    """
    if section_name in OWN_SECTIONS or section_name in ("format_version", "exported_at"):
        raise ValueError(f"{section_name!r} is a section of groups itself")
    _sections[section_name] = Section(section_name, func, tuple(models), erase, kept)


def not_exported(model_label: str, reason: str) -> None:
    """A model that points at a person without being theirs to download (``reason``
    says why): the registry's test accepts it."""
    _left_out[model_label] = reason


def registered_sections() -> list[str]:
    return sorted(_sections)


def covered_models() -> dict[str, str]:
    """Every model the export accounts for → the section that exports it, or why not."""
    covered = dict.fromkeys(OWN_MODELS, "groups")
    for section in _sections.values():
        covered.update(dict.fromkeys(section.models, section.name))
    covered.update({label: f"not exported: {why}" for label, why in _left_out.items()})
    return covered


def collect(user) -> dict:
    """The registered sections for ``user``, by name."""
    return {name: _sections[name].export(user) for name in sorted(_sections)}


def erase_all(user) -> None:
    """Account deletion: every section's ``erase``, by name (inside its transaction)."""
    for name in sorted(_sections):
        if _sections[name].erase is not None:
            _sections[name].erase(user)


def kept_on_deletion() -> list:
    """What account deletion keeps, section by section (the delete page lists it)."""
    return [_sections[name].kept for name in sorted(_sections) if _sections[name].kept]


def account_export(*, user) -> dict:
    """The whole export for ``user``: ``groups``' sections, then the registered ones."""
    profile = Profile.objects.filter(user=user).first()
    memberships = (
        Membership.objects.filter(user=user).select_related("group").order_by("joined_at", "pk")
    )
    invitations = (
        Invitation.objects.filter(created_by=user)
        .select_related("group")
        .order_by("created_at", "pk")
    )
    facebook = SocialAccount.objects.filter(user=user, provider="facebook").first()
    data = {
        "format_version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "profile": {
            "display_name": profile.display_name if profile else "",
            "avatar_url": profile.avatar_url if profile else "",
            "preferred_language": profile.preferred_language if profile else "",
            "facebook_id": profile.facebook_id if profile else None,
            "created_at": _when(profile.created_at) if profile else None,
            "account_created_at": _when(user.date_joined),
            "last_login": _when(user.last_login),
        },
        "email_addresses": [
            {"email": address.email, "verified": address.verified, "primary": address.primary}
            for address in EmailAddress.objects.filter(user=user).order_by("-primary", "pk")
        ],
        "facebook": {
            "linked": facebook is not None,
            "id": facebook.uid if facebook else None,
            "data_from_facebook": facebook.extra_data if facebook else None,
            "linked_at": _when(facebook.date_joined) if facebook else None,
        },
        "memberships": [
            {
                "group": membership.group.name,
                "role": membership.role,
                "status": membership.status,
                "shares_details": membership.shares_details,
                "joined_at": _when(membership.joined_at),
            }
            for membership in memberships
        ],
        # Whom a personal invitation was for is left out: that is the other person's data.
        "invitations_created": [
            {
                "group": invitation.group.name,
                "channel": invitation.channel,
                "personal": invitation.invitee_id is not None or bool(invitation.invitee_email),
                "created_at": _when(invitation.created_at),
                "expires_at": _when(invitation.expires_at),
                "revoked_at": _when(invitation.revoked_at),
                "uses": invitation.uses,
                "max_uses": invitation.max_uses,
            }
            for invitation in invitations
        ],
        # Invitations sent to them: who sent it is the group's organiser or a member.
        "invitations_received": [
            {
                "group": invitation.group.name,
                "channel": invitation.channel,
                "created_at": _when(invitation.created_at),
                "expires_at": _when(invitation.expires_at),
                "revoked_at": _when(invitation.revoked_at),
            }
            for invitation in Invitation.objects.filter(invitee=user)
            .select_related("group")
            .order_by("created_at", "pk")
        ],
        "messages": messages_export(user_id=user.pk),
        "message_preferences": preferences_export(user_id=user.pk),
    }
    data.update(collect(user))
    return data


@dataclass(frozen=True)
class AccountSummary:
    """What the account page shows (three queries)."""

    display_name: str
    preferred_language: str
    email_addresses: list[EmailAddress]
    facebook_linked: bool


def account_summary(*, user) -> AccountSummary:
    profile = Profile.objects.filter(user=user).first()
    return AccountSummary(
        display_name=(profile.display_name if profile else "")
        or user.get_full_name()
        or user.email,
        preferred_language=profile.preferred_language if profile else "",
        email_addresses=list(EmailAddress.objects.filter(user=user).order_by("-primary", "pk")),
        facebook_linked=SocialAccount.objects.filter(user=user, provider="facebook").exists(),
    )
