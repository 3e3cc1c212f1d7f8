"""The "Download my data" export: everything we hold about a person, as one JSON document.

``groups`` writes its own sections (profile, e-mail addresses, memberships, invitations).
Higher apps add theirs without ``groups`` importing them: each registers a section in its
``AppConfig.ready()``::

    from groups import exports
    exports.register("trips", trips_export)  # trips_export(user) -> JSON-able value

A section holds the person's own data only: never another member's e-mail address.
"""

from collections.abc import Callable
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.utils import timezone

from groups.models import Invitation, Membership, Profile

FORMAT_VERSION = 1
OWN_SECTIONS = ("profile", "email_addresses", "facebook", "memberships", "invitations_created")

_sections: dict[str, Callable] = {}


def register(section_name: str, func: Callable) -> None:
    """Add a section to every export: ``func(user)`` returns a JSON-able value.

    Registering the same name again replaces the function (``ready()`` may run twice in
    tests); a name of ``groups``' own sections is refused.
    """
    if section_name in OWN_SECTIONS or section_name in ("format_version", "exported_at"):
        raise ValueError(f"{section_name!r} is a section of groups itself")
    _sections[section_name] = func


def registered_sections() -> list[str]:
    return sorted(_sections)


def collect(user) -> dict:
    """The registered sections for ``user``, by name."""
    return {name: _sections[name](user) for name in sorted(_sections)}


def _when(value) -> str | None:
    return value.isoformat() if value is not None else None


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
