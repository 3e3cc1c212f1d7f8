"""Staff's view of split payments: checkouts with their shares and payments, Stripe's
webhook events and refunds. Read-only: money moves only through ``payments.services``;
the one action, "Reconcile this trip", runs ``payments.reconcile`` for the selected
checkouts and shows what changed."""

from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from payments.models import Checkout, Payment, Refund, Share, ShareItem, StripeEvent
from payments.reconcile import reconcile


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ShareInline(ReadOnlyMixin, admin.TabularInline):
    model = Share
    fields = ("traveller", "amount_cents", "currency", "state", "payment")
    readonly_fields = fields
    extra = 0


class PaymentInline(ReadOnlyMixin, admin.TabularInline):
    model = Payment
    fields = ("payer", "attempt", "amount_cents", "state", "stripe_payment_intent_id", "last_error")
    readonly_fields = fields
    extra = 0


@admin.register(Checkout)
class CheckoutAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "trip", "state", "policy", "deadline_at", "created_at", "confirmed_at")
    list_filter = ("state", "policy")
    list_select_related = ("trip",)
    search_fields = ("=id", "trip__title")
    inlines = [ShareInline, PaymentInline]
    actions = ["reconcile_selected"]

    def has_reconcile_permission(self, request):
        # Repairs move money state: staff who may change checkouts (superusers).
        return request.user.has_perm("payments.change_checkout")

    @admin.action(description=gettext_lazy("Reconcile this trip"), permissions=["reconcile"])
    def reconcile_selected(self, request, queryset):
        changes = reconcile(checkout_ids=list(queryset.values_list("pk", flat=True)))
        for change in changes:
            level = messages.WARNING if change.attention else messages.INFO
            self.message_user(request, str(change), level)
        if not changes:
            self.message_user(request, _("Stripe and our records agree: nothing changed."))


@admin.register(Payment)
class PaymentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "checkout",
        "payer",
        "attempt",
        "amount_cents",
        "currency",
        "state",
        "stripe_payment_intent_id",
        "created_at",
    )
    list_filter = ("state",)
    list_select_related = ("checkout", "payer")
    search_fields = ("=stripe_payment_intent_id", "=checkout__id")


@admin.register(ShareItem)
class ShareItemAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "share", "leg", "allocation", "fare_class", "amount_cents")
    list_select_related = ("share", "leg", "fare_class")
    search_fields = ("=share__checkout__id",)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("event_id", "type", "received_at", "handled_at", "error")
    list_filter = ("type",)
    search_fields = ("=event_id",)


@admin.register(Refund)
class RefundAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "payment", "ticket", "amount_cents", "state", "stripe_refund_id")
    list_filter = ("state",)
    list_select_related = ("payment",)
    search_fields = ("=stripe_refund_id",)
