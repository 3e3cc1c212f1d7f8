"""The operator's admin: the catalog (stations, vehicles and seat maps, departures, fares,
passenger types, cards, events) and a read-only view of the seat inventory.

Changelists cost a fixed number of queries: counts come from subqueries annotated on the
page's rows, related objects from ``list_select_related``. A seat map is imported through
the same reader and service as ``manage.py import_seatmap``.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from booking import disruptions, seatmaps
from booking.demo import card_sample_number
from booking.disruptions import departures_cancel
from booking.models import (
    AllocationState,
    Booking,
    Coach,
    Departure,
    DepartureFare,
    DiscountCard,
    DisruptedTrip,
    Disruption,
    DisruptionChange,
    DisruptionChoice,
    Event,
    FareBucket,
    FareClass,
    PassengerType,
    Seat,
    SeatAllocation,
    Station,
    Ticket,
    Trip,
    Vehicle,
)
from booking.services import coach_neighbours_rebuild, vehicle_import
from core.admin import ReadOnlyAdminMixin
from core.errors import DomainError


def _count_of(queryset: QuerySet, link: str) -> Coalesce:
    """Rows of ``queryset`` pointing at the outer row through ``link``, as a correlated
    subquery: evaluated only for the rows of the page, and never multiplied by a join."""
    counted = (
        queryset.filter(**{link: OuterRef("pk")})
        .order_by()
        .values(link)
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _vehicle_has_departures(vehicle_id) -> bool:
    return vehicle_id is not None and Departure.objects.filter(vehicle_id=vehicle_id).exists()


# --- Stations ------------------------------------------------------------------------------


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "time_zone")
    list_display_links = ("code", "name")
    search_fields = ("code", "name", "city")
    list_filter = ("time_zone",)
    ordering = ("name",)


# --- Vehicles, coaches and seats -----------------------------------------------------------


class SeatMapImportForm(forms.Form):
    MAX_BYTES = 5 * 1024 * 1024

    file = forms.FileField(
        label=_("JSON file"),
        required=False,
        help_text=_("A seat map in the import format (see docs/seat-maps.md)."),
    )
    text = forms.CharField(
        label=_("or paste the JSON"),
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "spellcheck": "false"}),
    )

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("file"), cleaned.get("text")
        if upload and text:
            raise forms.ValidationError(_("Upload a file or paste JSON, not both."))
        if not upload and not text:
            raise forms.ValidationError(_("Upload a JSON file or paste its content."))
        if upload and upload.size > self.MAX_BYTES:
            raise forms.ValidationError(
                _("The file is too large (at most %(mb)s MB).")
                % {"mb": self.MAX_BYTES // (1024 * 1024)}
            )
        return cleaned

    def raw(self) -> str | bytes:
        upload = self.cleaned_data.get("file")
        return upload.read() if upload else self.cleaned_data["text"]


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "coach_count", "seat_count", "departure_count")
    search_fields = ("code", "name")
    fields = ("code", "name", "description", "seat_map_summary")
    readonly_fields = ("seat_map_summary",)
    change_list_template = "admin/booking/vehicle/change_list.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                coach_total=_count_of(Coach.objects.all(), "vehicle"),
                seat_total=_count_of(Seat.objects.all(), "coach__vehicle"),
                departure_total=_count_of(Departure.objects.all(), "vehicle"),
            )
        )

    @admin.display(description=_("coaches"), ordering="coach_total")
    def coach_count(self, obj):
        return obj.coach_total

    @admin.display(description=_("seats"), ordering="seat_total")
    def seat_count(self, obj):
        return obj.seat_total

    @admin.display(description=_("departures"), ordering="departure_total")
    def departure_count(self, obj):
        return obj.departure_total

    @admin.display(description=_("seat map"))
    def seat_map_summary(self, obj):
        if obj is None or obj.pk is None:
            return gettext("Save the vehicle, or import a seat map, to see it here.")
        coaches = list(obj.coaches.order_by("number"))
        if not coaches:
            return gettext("No coaches yet: import a seat map.")
        rows = (
            Seat.objects.filter(coach__vehicle=obj)
            .values("coach_id", "deck", "comfort_class")
            .annotate(
                n=Count("id"),
                tables=Count("table_group", distinct=True, filter=~Q(table_group="")),
            )
            .order_by("coach_id", "deck", "comfort_class")
        )
        by_coach: dict[int, list[dict]] = {}
        for row in rows:
            by_coach.setdefault(row["coach_id"], []).append(row)
        deck_labels = dict(Seat._meta.get_field("deck").choices)
        class_labels = dict(Seat._meta.get_field("comfort_class").choices)
        lines = []
        for coach in coaches:
            url = reverse("admin:booking_coach_change", args=[coach.pk])
            parts = by_coach.get(coach.pk) or [None]
            for part in parts:
                lines.append(
                    (
                        url,
                        coach,
                        deck_labels.get(part["deck"], "") if part else "—",
                        class_labels.get(part["comfort_class"], "") if part else "—",
                        part["n"] if part else 0,
                        part["tables"] if part else 0,
                    )
                )
        total = sum(line[4] for line in lines)
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            gettext("Coach"),
            gettext("Deck"),
            gettext("Class"),
            gettext("Seats"),
            gettext("Tables"),
        )
        body = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            lines,
        )
        footer = format_html(
            '<tr><td colspan="3"><strong>{}</strong></td>'
            "<td><strong>{}</strong></td><td></td></tr>",
            gettext("Total"),
            total,
        )
        return format_html("<table>{}{}{}</table>", header, body, footer)

    # The import view: same reader and service as the import_seatmap command.

    def get_urls(self):
        own = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="booking_vehicle_import",
            ),
            path(
                "import/example.json",
                self.admin_site.admin_view(self.import_example_view),
                name="booking_vehicle_import_example",
            ),
        ]
        return own + super().get_urls()

    def _can_import(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def _check_import_permission(self, request) -> None:
        if not self._can_import(request):
            raise PermissionDenied

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self._can_import(request)}
        return super().changelist_view(request, extra_context)

    def import_example_view(self, request):
        self._check_import_permission(request)
        response = HttpResponse(seatmaps.example_json(), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{seatmaps.EXAMPLE_FILE}"'
        return response

    def import_view(self, request):
        self._check_import_permission(request)
        errors: list[str] = []
        if request.method == "POST":
            form = SeatMapImportForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    data = seatmaps.seat_map_read(raw=form.raw())
                    # The service is atomic: on an error nothing it did is kept.
                    vehicle, outcome = vehicle_import(data=data)
                except DomainError as exc:
                    errors = seatmaps.error_lines(exc)
                    messages.error(request, errors[0])
                else:
                    self._log_import(request, vehicle, outcome)
                    messages.success(request, self._import_message(vehicle, outcome, data))
                    return HttpResponseRedirect(
                        reverse("admin:booking_vehicle_change", args=[vehicle.pk])
                    )
        else:
            form = SeatMapImportForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import seat map (JSON)"),
            "form": form,
            "errors": errors[1:],
            "example_url": reverse("admin:booking_vehicle_import_example"),
        }
        return TemplateResponse(request, "admin/booking/vehicle/import_seatmap.html", context)

    def _log_import(self, request, vehicle, outcome: str) -> None:
        if outcome == "created":
            self.log_addition(request, vehicle, [{"added": {}}])
        elif outcome == "replaced":
            self.log_change(request, vehicle, gettext("Seat map replaced by an import."))

    @staticmethod
    def _import_message(vehicle, outcome: str, data: dict) -> str:
        coaches, seats = seatmaps.seat_map_counts(data)
        values = {"name": vehicle.name, "coaches": coaches, "seats": seats}
        if outcome == "created":
            return gettext("Vehicle “%(name)s” created: %(coaches)s coaches, %(seats)s seats.") % (
                values
            )
        if outcome == "replaced":
            return (
                gettext(
                    "The seat map of “%(name)s” was replaced: %(coaches)s coaches, %(seats)s seats."
                )
                % values
            )
        return gettext("“%(name)s” already has this seat map: nothing changed.") % values


class SeatInline(admin.TabularInline):
    model = Seat
    extra = 0
    fields = (
        "number",
        "deck",
        "row",
        "column",
        "position",
        "facing",
        "table_group",
        "comfort_class",
    )
    ordering = ("deck", "row", "column")

    # Sold seats must keep their meaning: once the vehicle runs departures its seats are
    # shown read-only here, as the import refuses a different map then.
    def _editable(self, obj) -> bool:
        return obj is None or not _vehicle_has_departures(obj.vehicle_id)

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class CoachForm(forms.ModelForm):
    class Meta:
        model = Coach
        fields = ("vehicle", "number", "double_deck")

    def clean(self):
        cleaned = super().clean()
        if (
            self.instance.pk
            and not cleaned.get("double_deck")
            and self.instance.seats.filter(deck="upper").exists()
        ):
            raise forms.ValidationError(
                _("This coach has seats on its upper deck: it must stay double-deck.")
            )
        return cleaned


@admin.register(Coach)
class CoachAdmin(admin.ModelAdmin):
    form = CoachForm
    list_display = ("__str__", "vehicle", "double_deck", "seat_count")
    list_filter = ("vehicle", "double_deck")
    list_select_related = ("vehicle",)
    search_fields = ("vehicle__code", "vehicle__name")
    autocomplete_fields = ("vehicle",)
    ordering = ("vehicle__name", "number")
    inlines = [SeatInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(seat_total=_count_of(Seat.objects.all(), "coach"))
        )

    @admin.display(description=_("seats"), ordering="seat_total")
    def seat_count(self, obj):
        return obj.seat_total

    # A coach of a vehicle that runs departures is shown, not edited: moving or deleting
    # it would change what sold seats mean (the import refuses the same for this reason).
    def has_change_permission(self, request, obj=None):
        if obj is not None and _vehicle_has_departures(obj.vehicle_id):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and _vehicle_has_departures(obj.vehicle_id):
            return False
        return super().has_delete_permission(request, obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Neighbours are derived from the grid (never typed in): derive them again.
        coach_neighbours_rebuild(coach=form.instance)


# --- Departures ----------------------------------------------------------------------------


class DepartureFareInline(admin.TabularInline):
    model = DepartureFare
    extra = 0
    fields = ("fare_class", "base_price_cents", "currency")


class DisruptionForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=300, required=False)
    expected_arrival_at = forms.DateTimeField(
        label=_("expected arrival"), required=False, help_text=_("YYYY-MM-DD HH:MM")
    )
    actual_arrival_at = forms.DateTimeField(
        label=_("actual arrival"), required=False, help_text=_("YYYY-MM-DD HH:MM")
    )
    vehicle = forms.ModelChoiceField(
        label=_("new vehicle"), queryset=Vehicle.objects.none(), required=False
    )

    def __init__(self, *args, departure, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vehicle"].queryset = Vehicle.objects.exclude(pk=departure.vehicle_id)


@admin.register(Departure)
class DepartureAdmin(admin.ModelAdmin):
    list_display = (
        "service_number",
        "origin",
        "destination",
        "departs_local",
        "status",
        "seats_sold",
    )
    list_filter = ("status", "origin", "destination", "vehicle")
    list_select_related = ("origin", "destination")
    date_hierarchy = "departs_at"
    search_fields = (
        "service_number",
        "origin__name",
        "origin__code",
        "destination__name",
        "destination__code",
    )
    autocomplete_fields = ("origin", "destination", "vehicle")
    fields = (
        "service_number",
        ("origin", "destination"),
        ("departs_at", "arrives_at"),
        "vehicle",
        "status",
    )
    inlines = [DepartureFareInline]
    actions = ["cancel_departures"]

    def get_readonly_fields(self, request, obj=None):
        # A departure's status and (once seats are held or sold) its vehicle change only
        # through the disruption services ("Disrupt this departure"), which apply what
        # the change means to every trip on it.
        if obj is not None and obj.allocations.exists():
            return ("vehicle", "status")
        if obj is not None:
            return ("status",)
        return ()

    change_form_template = "admin/booking/departure/change_form.html"

    def get_urls(self):
        own = [
            path(
                "<int:departure_id>/disrupt/",
                self.admin_site.admin_view(self.disrupt_view),
                name="booking_departure_disrupt",
            ),
        ]
        return own + super().get_urls()

    def disrupt_view(self, request, departure_id: int):
        """Cancel the departure, announce its delay (expected, then actual arrival) or
        swap its vehicle: the same services as the staff API (booking.disruptions)."""
        departure = self.get_object(request, str(departure_id))
        if departure is None:
            raise PermissionDenied
        if not self.has_change_permission(request, departure):
            raise PermissionDenied
        form = DisruptionForm(request.POST or None, departure=departure)
        error = ""
        if request.method == "POST" and form.is_valid():
            action = request.POST.get("action")
            data = form.cleaned_data
            try:
                if action == "cancel":
                    disruption, changed = disruptions.departure_cancel(
                        departure_id=departure.pk, reason=data["reason"], by=request.user
                    )
                elif action == "delay":
                    disruption, changed = disruptions.departure_delay(
                        departure_id=departure.pk,
                        expected_arrival_at=data["expected_arrival_at"],
                        actual_arrival_at=data["actual_arrival_at"],
                        reason=data["reason"],
                        by=request.user,
                    )
                elif action == "vehicle" and data["vehicle"] is not None:
                    disruption, changed = disruptions.departure_vehicle_swap(
                        departure_id=departure.pk,
                        vehicle_id=data["vehicle"].pk,
                        reason=data["reason"],
                        by=request.user,
                    )
                else:
                    raise DomainError(gettext("Choose what happened."))
            except DomainError as exc:
                error = str(exc.message)
            else:
                if changed:
                    self.log_change(request, departure, str(disruption))
                    self.message_user(
                        request,
                        gettext("Recorded: %(what)s. The trips on this train are being told.")
                        % {"what": disruption.get_kind_display()},
                        messages.SUCCESS,
                    )
                else:
                    self.message_user(
                        request, gettext("Nothing changed: it was already so."), messages.INFO
                    )
                return HttpResponseRedirect(
                    reverse("admin:booking_departure_disrupt", args=[departure.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Disrupt %(departure)s") % {"departure": departure},
            "departure": departure,
            "form": form,
            "error": error,
            "history": Disruption.objects.filter(departure=departure)
            .prefetch_related("changes")
            .order_by("created_at"),
        }
        return TemplateResponse(request, "admin/booking/departure/disrupt.html", context)

    def get_queryset(self, request):
        sold = SeatAllocation.objects.filter(state=AllocationState.SOLD)
        return super().get_queryset(request).annotate(sold_total=_count_of(sold, "departure"))

    @admin.display(description=_("departs (local time)"), ordering="departs_at")
    def departs_local(self, obj):
        local = obj.departs_at.astimezone(obj.origin.zone)
        return formats.date_format(local, "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("seats sold"), ordering="sold_total")
    def seats_sold(self, obj):
        return obj.sold_total

    @admin.action(description=_("Cancel selected departures"), permissions=["change"])
    def cancel_departures(self, request, queryset):
        to_cancel = departures_cancel(
            departure_ids=list(queryset.values_list("pk", flat=True)), by=request.user
        )
        for departure in to_cancel:
            self.log_change(request, departure, gettext("Cancelled from the list."))
        self.message_user(
            request,
            ngettext(
                "%(count)s departure cancelled.", "%(count)s departures cancelled.", len(to_cancel)
            )
            % {"count": len(to_cancel)},
            messages.SUCCESS,
        )


# --- Fares, travellers, cards, events ------------------------------------------------------


class FareBucketInline(admin.TabularInline):
    model = FareBucket
    extra = 0
    fields = ("min_load_percent", "uplift_percent")
    ordering = ("min_load_percent",)


@admin.register(FareClass)
class FareClassAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "comfort_class",
        "refundable",
        "refund_fee_cents",
        "exchangeable",
        "exchange_fee_cents",
        "bucket_summary",
        "sort_order",
    )
    list_filter = ("comfort_class", "refundable", "exchangeable")
    search_fields = ("code", "name")
    inlines = [FareBucketInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("buckets")

    @admin.display(description=_("price rises"))
    def bucket_summary(self, obj):
        return " · ".join(str(b) for b in obj.buckets.all()) or "—"


@admin.register(PassengerType)
class PassengerTypeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "min_age", "max_age", "reduction_percent", "sort_order")
    search_fields = ("code", "name")


class DiscountCardForm(forms.ModelForm):
    class Meta:
        model = DiscountCard
        fields = (
            "code",
            "name",
            "min_age",
            "max_age",
            "reduction_percent",
            "number_prefix",
            "number_length",
            "sort_order",
        )

    def clean(self):
        cleaned = super().clean()
        prefix, length = cleaned.get("number_prefix"), cleaned.get("number_length")
        if prefix and length is not None and len(prefix) >= length:
            raise forms.ValidationError(
                _("The prefix must be shorter than the number (which ends with a check digit).")
            )
        return cleaned


@admin.register(DiscountCard)
class DiscountCardAdmin(admin.ModelAdmin):
    form = DiscountCardForm
    list_display = (
        "code",
        "name",
        "min_age",
        "max_age",
        "reduction_percent",
        "number_prefix",
        "number_length",
        "sample_number",
    )
    search_fields = ("code", "name", "number_prefix")
    readonly_fields = ("sample_number",)

    @admin.display(description=_("a valid number (for tests)"))
    def sample_number(self, obj):
        if obj is None or not obj.number_prefix or obj.number_length <= len(obj.number_prefix):
            return "—"
        return card_sample_number(obj)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "station", "venue", "starts_on", "ends_on")
    list_filter = ("kind", "station")
    list_select_related = ("station",)
    date_hierarchy = "starts_on"
    search_fields = ("name", "venue", "station__name", "station__code")
    autocomplete_fields = ("station",)
    prepopulated_fields = {"slug": ("name",)}


# --- Seat inventory (read-only) ------------------------------------------------------------


@admin.register(SeatAllocation)
class SeatAllocationAdmin(admin.ModelAdmin):
    """An audit view: holds and sales change only through the booking services."""

    list_display = ("id", "departure", "seat", "state", "expires_at", "created_at", "updated_at")
    list_filter = ("state",)
    list_select_related = ("departure__origin", "departure__destination", "seat__coach")
    raw_id_fields = ("departure", "seat")
    search_fields = ("=departure__service_number",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Trips (read-only: travellers change them through the services) ------------------------


@admin.register(Trip)
class TripAdmin(admin.ModelAdmin):
    list_display = ("title", "origin", "destination", "event", "outbound_from", "status", "group")
    list_filter = ("status", "event")
    list_select_related = ("origin", "destination", "event", "group")
    date_hierarchy = "outbound_from"
    search_fields = ("title", "group__name", "origin__name", "destination__name")
    readonly_fields = ("group", "version", "created_by", "created_at", "updated_at")
    raw_id_fields = ("origin", "destination", "event")


# --- Bookings and tickets (read-only: made by the payments' confirmation) -------------------


class TicketInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Ticket
    fields = ("code", "traveller", "leg", "allocation", "fare_class", "price_cents", "state")
    readonly_fields = fields
    extra = 0


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ("id", "trip", "state", "confirmed_at", "disputed")
    list_filter = ("state", "disputed")
    list_select_related = ("trip",)
    search_fields = ("=id", "trip__title")
    inlines = [TicketInline]
    readonly_fields = ("payments_link",)

    @admin.display(description=_("payments"))
    def payments_link(self, obj):
        # The trip's checkouts in the payments admin (shares, PaymentIntents, Stripe
        # events, refunds), by URL name: booking does not import payments.
        try:
            url = reverse("admin:payments_checkout_changelist")
        except NoReverseMatch:
            return "-"
        return format_html(
            '<a href="{}?trip__id__exact={}">{}</a>', url, obj.trip_id, gettext("Checkouts")
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("code", "booking", "traveller", "leg", "price_cents", "state")
    list_filter = ("state",)
    list_select_related = ("booking", "traveller", "leg")
    search_fields = ("=code",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Disruptions: what happened to departures, read-only (booking.disruptions) ----------------


class DisruptionChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DisruptionChange
    fields = ("at", "what", "data", "by")
    readonly_fields = fields
    extra = 0


class DisruptedTripInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DisruptedTrip
    fields = ("trip", "what", "state", "trip_status", "done_at")
    readonly_fields = fields
    extra = 0


class DisruptionChoiceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DisruptionChoice
    fields = ("ticket", "traveller", "choice", "choose_by", "chosen_at")
    readonly_fields = fields
    extra = 0


@admin.register(Disruption)
class DisruptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Staff read what happened and to whom; changes go through "Disrupt this departure"
    on the departure (or the staff API), never here."""

    list_display = ("departure", "kind", "reason", "delay_shown", "created_at")
    list_filter = ("kind",)
    list_select_related = ("departure__origin", "departure__destination")
    fields = (
        "departure",
        "kind",
        "reason",
        "expected_arrival_at",
        "actual_arrival_at",
        "old_vehicle",
        "new_vehicle",
        "choose_by",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    inlines = [DisruptionChangeInline, DisruptedTripInline, DisruptionChoiceInline]

    @admin.display(description=_("delay (minutes)"))
    def delay_shown(self, obj):
        return obj.delay_minutes if obj.kind == Disruption.Kind.DELAY else ""
