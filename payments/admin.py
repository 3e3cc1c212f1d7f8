"""Staff's view of split payments: checkouts with their shares and payments, Stripe's
webhook events and refunds. Read-only: money moves only through ``payments.services``.

A checkout's page gathers what staff need about one booking's money: the booking (link),
the totals (``services.checkout_money``), each share and payment (its PaymentIntent id),
the refunds, and the webhook events about its PaymentIntents
(``selectors.checkout_stripe_events``). "Reconcile this trip" runs ``payments.reconcile``
for the selected checkouts (the list's action) or for the page's trip (its button) and
shows what changed."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import ReadOnlyAdminMixin
from payments import selectors, services
from payments.models import (
    Checkout,
    Compensation,
    CompensationCreditUse,
    CompensationPreference,
    Payment,
    Refund,
    Share,
    ShareItem,
    StripeEvent,
)
from payments.reconcile import reconcile


def _admin_link(route: str, pk, text) -> str:
    try:
        return format_html('<a href="{}">{}</a>', reverse(route, args=[pk]), text)
    except NoReverseMatch:
        return str(text)


def _cents(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency}"


def _table(headers: list, rows: list[tuple], *, empty: str) -> str:
    if not rows:
        return empty
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


class ShareInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Share
    fields = (
        "traveller",
        "amount_cents",
        "credit_cents",
        "currency",
        "state",
        "payment",
        "reminders_sent",
    )
    readonly_fields = fields
    extra = 0


class PaymentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Payment
    fields = (
        "payment_link",
        "payer",
        "attempt",
        "amount_cents",
        "state",
        "stripe_payment_intent_id",
        "authorised_at",
        "captured_at",
        "last_error",
    )
    readonly_fields = fields
    extra = 0

    @admin.display(description=gettext_lazy("payment"))
    def payment_link(self, obj):
        return _admin_link("admin:payments_payment_change", obj.pk, obj.pk)


@admin.register(Checkout)
class CheckoutAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "trip", "state", "policy", "deadline_at", "created_at", "confirmed_at")
    list_filter = ("state", "policy")
    list_select_related = ("trip",)
    search_fields = ("=id", "=trip__id", "trip__title")
    inlines = [ShareInline, PaymentInline]
    actions = ["reconcile_selected"]
    change_form_template = "admin/payments/checkout/change_form.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "trip",
                    "booking_link",
                    "state",
                    "policy",
                    "currency",
                    "deadline_at",
                    "grace_until",
                    "started_by",
                    "created_at",
                    "confirmed_at",
                )
            },
        ),
        (gettext_lazy("Money"), {"fields": ("money",)}),
        (gettext_lazy("Refunds"), {"fields": ("refunds_table",)}),
        (gettext_lazy("Stripe events"), {"fields": ("stripe_events_table",)}),
    )
    readonly_fields = (
        "trip",
        "booking_link",
        "state",
        "policy",
        "currency",
        "deadline_at",
        "grace_until",
        "started_by",
        "created_at",
        "confirmed_at",
        "money",
        "refunds_table",
        "stripe_events_table",
    )

    def has_reconcile_permission(self, request):
        # Repairs move money state: staff who may change checkouts (superusers).
        return request.user.has_perm("payments.change_checkout")

    def _report(self, request, changes) -> None:
        for change in changes:
            level = messages.WARNING if change.attention else messages.INFO
            self.message_user(request, str(change), level)
        if not changes:
            self.message_user(request, _("Stripe and our records agree: nothing changed."))

    @admin.action(description=gettext_lazy("Reconcile this trip"), permissions=["reconcile"])
    def reconcile_selected(self, request, queryset):
        self._report(request, reconcile(checkout_ids=list(queryset.values_list("pk", flat=True))))

    # The checkout page's own button: the same repair, for its trip.

    def get_urls(self):
        own = [
            path(
                "<int:checkout_id>/reconcile/",
                self.admin_site.admin_view(self.reconcile_view),
                name="payments_checkout_reconcile",
            )
        ]
        return own + super().get_urls()

    def reconcile_view(self, request, checkout_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_reconcile_permission(request):
            raise PermissionDenied
        checkout = get_object_or_404(Checkout, pk=checkout_id)
        self._report(request, reconcile(trip_id=checkout.trip_id))
        return HttpResponseRedirect(reverse("admin:payments_checkout_change", args=[checkout.pk]))

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_reconcile"] = self.has_reconcile_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)

    # What the page shows besides the rows themselves.

    @admin.display(description=gettext_lazy("booking"))
    def booking_link(self, obj):
        booking = obj.trip.bookings.first() if obj.state == Checkout.State.CONFIRMED else None
        if booking is None:
            return "-"
        return _admin_link("admin:booking_booking_change", booking.pk, booking)

    @admin.display(description=gettext_lazy("paid, refunded, on its way back"))
    def money(self, obj):
        money = services.checkout_money(checkout_id=obj.pk)
        return format_html(
            "{}: {} · {}: {} · {}: {} · {}: {}",
            _("captured"),
            _cents(money.paid_cents, money.currency),
            _("refunded"),
            _cents(money.refunded_cents, money.currency),
            _("refund pending"),
            _cents(money.refund_pending_cents, money.currency),
            _("kept"),
            _cents(money.kept_cents, money.currency),
        )

    @admin.display(description=gettext_lazy("refunds"))
    def refunds_table(self, obj):
        refunds = (
            Refund.objects.filter(payment__checkout=obj)
            .select_related("payment", "ticket")
            .order_by("created_at", "pk")
        )
        rows = [
            (
                _admin_link("admin:payments_refund_change", refund.pk, refund.pk),
                refund.payment.stripe_payment_intent_id or "-",
                refund.ticket.code if refund.ticket else "-",
                refund.get_reason_display(),
                _cents(refund.amount_cents, refund.currency),
                refund.get_state_display(),
                refund.stripe_refund_id or "-",
                refund.idempotency_key,
                refund.last_error or "",
            )
            for refund in refunds
        ]
        headers = [
            _("refund"),
            _("PaymentIntent"),
            _("ticket"),
            _("reason"),
            _("amount"),
            _("state"),
            _("Stripe refund"),
            _("idempotency key"),
            _("last error"),
        ]
        return _table(headers, rows, empty=_("No refund."))

    @admin.display(description=gettext_lazy("Stripe events"))
    def stripe_events_table(self, obj):
        events = selectors.checkout_stripe_events(checkout_id=obj.pk)
        rows = [
            (
                _admin_link("admin:payments_stripeevent_change", event.pk, event.event_id),
                event.type,
                (event.payload.get("object") or {}).get("id", "-"),
                event.received_at,
                event.handled_at or "-",
                event.error or "",
            )
            for event in events
        ]
        headers = [_("event"), _("type"), _("object"), _("received"), _("handled"), _("error")]
        return _table(headers, rows, empty=_("No webhook event about these payments yet."))


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
class ShareItemAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "share", "leg", "allocation", "fare_class", "amount_cents")
    list_select_related = ("share", "leg", "fare_class")
    search_fields = ("=share__checkout__id",)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("event_id", "type", "received_at", "handled_at", "error")
    list_filter = ("type",)
    search_fields = ("=event_id",)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "payment",
        "ticket",
        "reason",
        "amount_cents",
        "state",
        "stripe_refund_id",
    )
    list_filter = ("state", "reason")
    list_select_related = ("payment",)
    search_fields = ("=stripe_refund_id", "=payment__checkout__id")


class CompensationCreditUseInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CompensationCreditUse
    fields = ("share", "amount_cents", "state", "created_at")
    readonly_fields = fields
    extra = 0


@admin.register(Compensation)
class CompensationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Delay compensations (payments.disruptions): one per ticket at most, with the
    refund that paid it (its idempotency key and Stripe id on the refund), or, taken as
    credit for a next trip (state ``credited``), the shares that credit paid."""

    inlines = [CompensationCreditUseInline]

    list_display = (
        "ticket",
        "disruption",
        "delay_minutes",
        "percent",
        "amount_cents",
        "state",
        "refund",
        "created_at",
    )
    list_filter = ("state", "percent")
    list_select_related = ("ticket", "disruption", "refund")
    search_fields = ("=ticket__code",)


@admin.register(CompensationPreference)
class CompensationPreferenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """How travellers asked for their compensation of a late train (card or credit)."""

    list_display = ("traveller", "disruption", "form", "updated_at")
    list_filter = ("form",)
    list_select_related = ("traveller", "disruption")
