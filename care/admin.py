from django.contrib import admin

from care.models import Case, CaseMessage


class CaseMessageInline(admin.TabularInline):
    model = CaseMessage
    extra = 0
    fields = ["created_at", "author", "by_staff", "body"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # answers go through the inbox (care.services), not the admin


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["id", "trip", "opened_by", "state", "assigned_to", "created_at"]
    list_filter = ["state", "visibility"]
    search_fields = ["=id", "=trip__id"]
    readonly_fields = [
        "trip",
        "opened_by",
        "visibility",
        "state",
        "created_at",
        "last_message_at",
        "first_response_at",
        "resolved_at",
    ]
    raw_id_fields = ["assigned_to"]
    inlines = [CaseMessageInline]
