"""Staff's view of split payments: checkouts with their shares and payments, Stripe's
webhook events and refunds. Read-only: money moves only through ``payments.services``."""

from django.contrib import admin

from payments.models import Checkout, Payment, Refund, Share, ShareItem, StripeEvent


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
