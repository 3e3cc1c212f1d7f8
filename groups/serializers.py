"""Input and output shapes of the friend-group API (``groups.api``), reused by the trip
API in ``booking``. Nothing here exposes a traveller's e-mail address: members see each
other's name, avatar, role and status only."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from groups.errors import InvitationExpired, InvitationRevoked, InvitationUsedUp
from groups.models import FriendGroup, Invitation, Membership
from groups.selectors import invitation_validate

# --- Input ---------------------------------------------------------------------------------


class GroupUpdateSerializer(serializers.Serializer):
    """A partial change: only the fields sent are changed (``group_update`` checks them)."""

    name = serializers.CharField(required=False, max_length=120)
    privacy = serializers.ChoiceField(choices=FriendGroup.Privacy.choices, required=False)
    requires_approval = serializers.BooleanField(required=False)
    max_members = serializers.IntegerField(required=False, min_value=1, max_value=1000)


class InvitationCreateSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(
        choices=Invitation.Channel.choices, default=Invitation.Channel.LINK
    )
    ttl_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=365,
        help_text=_("How many days the link works (the site sets the longest allowed)."),
    )
    max_uses = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=1000,
        help_text=_("How many people may join by it; empty for a shared link."),
    )
    invitee_id = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text=_(
            "One of your Facebook friends who use Sidebyside (as suggested for this trip): "
            "a personal invitation, shown on their trips page."
        ),
    )
    invitee_email = serializers.EmailField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs.get("invitee_id") is not None and attrs.get("invitee_email"):
            raise serializers.ValidationError(
                {"invitee_email": [_("Invite a person or an e-mail address, not both.")]}
            )
        return attrs


class HandOverSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)


class ShareDetailsSerializer(serializers.Serializer):
    shares_details = serializers.BooleanField(
        help_text=_("Show my discount card, age and price to the other travellers.")
    )


# --- Output --------------------------------------------------------------------------------


class GroupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    privacy = serializers.ChoiceField(choices=FriendGroup.Privacy.choices)
    requires_approval = serializers.BooleanField()
    max_members = serializers.IntegerField()


class MemberSerializer(serializers.Serializer):
    """A ``groups.selectors.MemberView``: what a traveller sees of another."""

    user_id = serializers.IntegerField()
    name = serializers.CharField()
    avatar_url = serializers.CharField(allow_blank=True)
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    status = serializers.ChoiceField(choices=Membership.Status.choices)
    joined_at = serializers.DateTimeField()
    is_you = serializers.BooleanField(source="is_viewer")
    details_visible = serializers.BooleanField(
        help_text=_("Whether this traveller's card, age and price may be shown to you.")
    )


class MembershipSerializer(serializers.Serializer):
    """Someone's own membership (or, for the organiser, the one they just changed)."""

    group_id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    status = serializers.ChoiceField(choices=Membership.Status.choices)
    shares_details = serializers.BooleanField()


INVITATION_STATUSES = ["active", "expired", "revoked", "used_up"]


def invitation_status(invitation: Invitation) -> str:
    """The status the organiser sees, from the same checks that refuse a join."""
    try:
        invitation_validate(invitation)
    except InvitationRevoked:
        return "revoked"
    except InvitationExpired:
        return "expired"
    except InvitationUsedUp:
        return "used_up"
    return "active"


class InvitationSerializer(serializers.Serializer):
    """An invitation as its organiser sees it: never its token (only its hash is kept)."""

    id = serializers.IntegerField()
    group_id = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=Invitation.Channel.choices)
    status = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    max_uses = serializers.IntegerField(allow_null=True)
    uses = serializers.IntegerField()
    invitee_id = serializers.IntegerField(allow_null=True)
    invitee_email = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()

    def get_status(self, invitation) -> str:
        return invitation_status(invitation)


class InvitationCreatedSerializer(InvitationSerializer):
    """The answer to creating an invitation: the one time its token and link are shown."""

    token = serializers.CharField()
    url = serializers.CharField(help_text=_("The link to send: /join/<token>/ on this site."))


class PersonalInvitationSerializer(serializers.Serializer):
    """An invitation sent to the person asking (``invitations_for_user``)."""

    id = serializers.IntegerField()
    group = GroupSerializer()
    channel = serializers.ChoiceField(choices=Invitation.Channel.choices)
    invited_by = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()

    def get_invited_by(self, invitation) -> str:
        creator = invitation.created_by
        profile = getattr(creator, "profile", None) if creator is not None else None
        return profile.display_name if profile is not None else ""
