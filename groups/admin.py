from django.contrib import admin

from groups.models import Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "facebook_id", "preferred_language", "created_at"]
    search_fields = ["display_name", "user__email", "facebook_id"]
    list_select_related = ["user"]
    # Filled by the login flows (groups.services); the operator only looks.
    readonly_fields = ["user", "facebook_id", "avatar_url", "created_at", "updated_at"]
