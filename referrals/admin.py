"""Staff's view of referral rewards (the incentive): who earned credit for which friend,
what is left, reserved, spent or reversed, and on which shares it was used. Read-only:
credit moves only through ``referrals.services`` (earned at a friend's booking, reserved
and released by ``payments.credits``, spent at the booking, reversed by a refund)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin
from referrals.models import Reward, RewardUse


class RewardUseInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RewardUse
    fields = ("share", "amount_cents", "state", "created_at", "updated_at")
    readonly_fields = fields
    extra = 0


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "sharer",
        "friend",
        "amount_cents",
        "left",
        "used_cents",
        "reversed_cents",
        "currency",
        "state",
        "earned_at",
    )
    list_filter = ("state", "currency")
    search_fields = ("sharer__email", "sharer__username", "friend__email", "friend__username")
    date_hierarchy = "earned_at"
    list_select_related = ("sharer", "friend")
    fields = (
        "sharer",
        "friend",
        "link",
        "conversion",
        "amount_cents",
        "currency",
        "used_cents",
        "reversed_cents",
        "left",
        "state",
        "earned_at",
        "spent_at",
        "reversed_at",
    )
    readonly_fields = fields
    inlines = [RewardUseInline]

    @admin.display(description=_("left (cents)"))
    def left(self, obj: Reward) -> int:
        return obj.left_cents
