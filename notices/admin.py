from django.contrib import admin

from notices.models import Message, PushSubscription


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Each message's sending status; a trip's messages: ``?trip_id=<id>`` (the trip's
    admin page links there) or search ``=<trip id>``."""

    list_display = [
        "pk",
        "kind",
        "recipient__email",
        "address",
        "channel",
        "language",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "trip_id",
    ]
    list_filter = ["state", "kind", "channel"]
    search_fields = ["=trip_id", "=object_id", "recipient__email", "address"]
    list_select_related = ["recipient"]
    ordering = ["-pk"]
    readonly_fields = [f.name for f in Message._meta.fields]

    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "trip_id" or super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    """The browsers where people turned notifications on; deleting one stops its pushes."""

    list_display = ["pk", "user__email", "endpoint", "created_at", "last_success_at"]
    search_fields = ["user__email", "=user__id"]
    list_select_related = ["user"]
    ordering = ["-pk"]
    readonly_fields = [f.name for f in PushSubscription._meta.fields]

    def has_add_permission(self, request):
        return False
