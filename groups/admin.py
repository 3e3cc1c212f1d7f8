from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from groups.models import DataDeletionRequest, FriendGroup, Invitation, Membership, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "facebook_id", "preferred_language", "created_at"]
    search_fields = ["display_name", "user__email", "facebook_id"]
    list_select_related = ["user"]
    # Filled by the login flows (groups.services); the operator only looks.
    readonly_fields = ["user", "facebook_id", "avatar_url", "created_at", "updated_at"]


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "group"
    extra = 0
    fields = ["traveller", "user", "role", "status", "shares_details", "joined_at"]
    readonly_fields = fields  # roles and statuses change through the services' rules
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user__profile")

    @admin.display(description=_("traveller"))
    def traveller(self, membership: Membership) -> str:
        profile = getattr(membership.user, "profile", None)
        return profile.display_name if profile else membership.user.get_username()

    def has_add_permission(self, request, obj=None):
        return False


class InvitationInline(admin.TabularInline):
    model = Invitation
    fk_name = "group"
    extra = 0
    fields = ["channel", "created_by", "invitee", "expires_at", "revoked_at", "uses", "max_uses"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FriendGroup)
class FriendGroupAdmin(admin.ModelAdmin):
    """Support staff look at groups; members, roles and invitations are changed by the
    travellers themselves, through the services and their rules."""

    list_display = ["name", "privacy", "requires_approval", "max_members", "created_at"]
    list_filter = ["privacy", "requires_approval"]
    search_fields = ["name", "memberships__user__email", "memberships__user__profile__display_name"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [MembershipInline, InvitationInline]
    date_hierarchy = "created_at"


@admin.register(DataDeletionRequest)
class DataDeletionRequestAdmin(admin.ModelAdmin):
    list_display = ["confirmation_code", "source", "status", "requested_at", "completed_at"]
    list_filter = ["source", "status"]
    search_fields = ["confirmation_code"]
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False
