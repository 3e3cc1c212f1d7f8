"""The rail catalog (stations, vehicles and their seat maps, departures, fares, passenger
types, discount cards, events) and the seat inventory of each departure.

Money is an integer number of cents with a currency code. Times are stored in UTC and
shown in the station's own time zone.
"""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.l10n import seat_name


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class ComfortClass(models.TextChoices):
    FIRST = "first", _("First class")
    SECOND = "second", _("Second class")


class Station(models.Model):
    code = models.CharField(
        _("code"),
        max_length=5,
        unique=True,
        validators=[RegexValidator(r"^[A-Z]{5}$", _("Five capital letters, e.g. FRLPD."))],
        help_text=_("Five capital letters, like the UIC location codes (FRPLY, FRLPD…)."),
    )
    name = models.CharField(_("name"), max_length=120)
    city = models.CharField(_("city"), max_length=120)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Paris", validators=[validate_time_zone]
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("station")
        verbose_name_plural = _("stations")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Vehicle(models.Model):
    """A train composition and its seat map: coaches made of seats. Departures share it."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")

    def __str__(self) -> str:
        return self.name


class Coach(models.Model):
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="coaches")
    number = models.PositiveSmallIntegerField(_("number"))
    double_deck = models.BooleanField(_("double deck"), default=False)

    class Meta:
        ordering = ["vehicle", "number"]
        verbose_name = _("coach")
        verbose_name_plural = _("coaches")
        constraints = [
            models.UniqueConstraint(fields=["vehicle", "number"], name="coach_number_unique")
        ]

    def __str__(self) -> str:
        return _("Coach %(number)s") % {"number": self.number}


class Deck(models.TextChoices):
    LOWER = "lower", _("Lower deck")
    UPPER = "upper", _("Upper deck")


class SeatPosition(models.TextChoices):
    WINDOW = "window", _("Window")
    MIDDLE = "middle", _("Middle")
    AISLE = "aisle", _("Aisle")


class Facing(models.TextChoices):
    FORWARD = "forward", _("Facing forward")
    BACKWARD = "backward", _("Facing backward")


class Seat(models.Model):
    """A seat in a coach. ``row`` and ``column`` place it on the deck's grid: columns are
    counted across the coach with the aisle as an empty column, so two seats are side by
    side exactly when they share a row and their columns differ by one."""

    coach = models.ForeignKey(Coach, on_delete=models.CASCADE, related_name="seats")
    number = models.PositiveSmallIntegerField(_("number"))
    deck = models.CharField(_("deck"), max_length=5, choices=Deck.choices, default=Deck.LOWER)
    row = models.PositiveSmallIntegerField(_("row"))
    column = models.PositiveSmallIntegerField(_("column"), validators=[MaxValueValidator(9)])
    position = models.CharField(_("position"), max_length=6, choices=SeatPosition.choices)
    facing = models.CharField(_("facing"), max_length=8, choices=Facing.choices)
    table_group = models.CharField(
        _("table"),
        max_length=12,
        blank=True,
        help_text=_("Seats that share a table have the same value; empty when no table."),
    )
    comfort_class = models.CharField(_("comfort class"), max_length=6, choices=ComfortClass.choices)

    class Meta:
        ordering = ["coach__number", "deck", "row", "column"]
        verbose_name = _("seat")
        verbose_name_plural = _("seats")
        constraints = [
            models.UniqueConstraint(fields=["coach", "number"], name="seat_number_unique"),
            models.UniqueConstraint(
                fields=["coach", "deck", "row", "column"], name="seat_place_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """The seat's one name for people, in the active language: "Coach 2, seat 14" /
        "Voiture 2, place 14" (``core.l10n.seat_name``; templates: ``seat_name``)."""
        return seat_name(self.coach.number, self.number)

    @property
    def label(self) -> str:
        """Coach and seat number, language-neutral: "12-64". It travels in plan events
        (broadcast to members who read different languages) and in a scanner's answer;
        pages write it for people with the ``seat_name`` filter."""
        return f"{self.coach.number}-{self.number}"


class NeighbourKind(models.TextChoices):
    SIDE_BY_SIDE = "side", _("Side by side")
    FACING = "facing", _("Facing")


class SeatNeighbour(models.Model):
    """A directed neighbour relation; the import stores both directions, so "who sits next
    to seat X" is one indexed lookup."""

    seat = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="neighbour_links")
    neighbour = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=6, choices=NeighbourKind.choices)

    class Meta:
        verbose_name = _("seat neighbour")
        verbose_name_plural = _("seat neighbours")
        constraints = [
            models.UniqueConstraint(fields=["seat", "neighbour", "kind"], name="neighbour_unique"),
            models.CheckConstraint(condition=~Q(seat=F("neighbour")), name="neighbour_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.seat_id} {self.kind} {self.neighbour_id}"


class Departure(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")

    service_number = models.CharField(_("train number"), max_length=10)
    origin = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="departures", verbose_name=_("from")
    )
    destination = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="arrivals", verbose_name=_("to")
    )
    departs_at = models.DateTimeField(_("departs at"))
    arrives_at = models.DateTimeField(_("arrives at"))
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, verbose_name=_("vehicle"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED
    )

    class Meta:
        ordering = ["departs_at"]
        verbose_name = _("departure")
        verbose_name_plural = _("departures")
        indexes = [models.Index(fields=["origin", "destination", "departs_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["service_number", "departs_at"], name="departure_service_unique"
            ),
            models.CheckConstraint(
                condition=Q(arrives_at__gt=F("departs_at")), name="departure_arrives_after"
            ),
            models.CheckConstraint(
                condition=~Q(origin=F("destination")), name="departure_distinct_stations"
            ),
        ]

    def __str__(self) -> str:
        local = self.departs_at.astimezone(self.origin.zone)
        route = f"{self.origin.name} → {self.destination.name}"
        return f"{self.service_number} {route} {local:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if self.arrives_at and self.departs_at and self.arrives_at <= self.departs_at:
            raise ValidationError({"arrives_at": _("A train arrives after it departs.")})
        if self.origin_id and self.origin_id == self.destination_id:
            raise ValidationError({"destination": _("Origin and destination must differ.")})

    @property
    def duration_minutes(self) -> int:
        return int((self.arrives_at - self.departs_at).total_seconds() // 60)


class FareClass(models.Model):
    """What a ticket allows: comfort class, refund and exchange rules."""

    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=60)
    comfort_class = models.CharField(_("comfort class"), max_length=6, choices=ComfortClass.choices)
    refundable = models.BooleanField(_("refundable"), default=False)
    refund_fee_cents = models.PositiveIntegerField(_("refund fee (cents)"), default=0)
    exchangeable = models.BooleanField(_("exchangeable"), default=False)
    exchange_fee_cents = models.PositiveIntegerField(_("exchange fee (cents)"), default=0)
    conditions = models.TextField(_("conditions"), blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("fare class")
        verbose_name_plural = _("fare classes")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_comfort_class_display()})"


class FareBucket(models.Model):
    """From ``min_load_percent`` of the comfort class sold or held, the fare rises by
    ``uplift_percent``. Pricing takes the highest uplift reached, so a price never falls
    as seats sell, whatever order the operator enters buckets in."""

    fare_class = models.ForeignKey(FareClass, on_delete=models.CASCADE, related_name="buckets")
    min_load_percent = models.PositiveSmallIntegerField(
        _("from load (%)"), validators=[MaxValueValidator(100)]
    )
    uplift_percent = models.PositiveSmallIntegerField(
        _("uplift (%)"), validators=[MaxValueValidator(300)]
    )

    class Meta:
        ordering = ["fare_class", "min_load_percent"]
        verbose_name = _("fare bucket")
        verbose_name_plural = _("fare buckets")
        constraints = [
            models.UniqueConstraint(
                fields=["fare_class", "min_load_percent"], name="bucket_threshold_unique"
            ),
            models.CheckConstraint(
                condition=Q(min_load_percent__lte=100), name="bucket_load_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"≥{self.min_load_percent}% → +{self.uplift_percent}%"


class DepartureFare(models.Model):
    departure = models.ForeignKey(Departure, on_delete=models.CASCADE, related_name="fares")
    fare_class = models.ForeignKey(FareClass, on_delete=models.PROTECT, related_name="+")
    base_price_cents = models.PositiveIntegerField(_("base price (cents)"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")

    class Meta:
        ordering = ["departure", "fare_class__sort_order"]
        verbose_name = _("departure fare")
        verbose_name_plural = _("departure fares")
        constraints = [
            models.UniqueConstraint(
                fields=["departure", "fare_class"], name="departure_fare_unique"
            ),
            models.CheckConstraint(
                condition=Q(base_price_cents__gt=0), name="departure_fare_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fare_class.code}: {self.base_price_cents / 100:.2f} {self.currency}"


class PassengerType(models.Model):
    """Who travels, by age (adult, youth, child, senior), with the reduction the age
    itself gives. Ages are whole years on the day of travel."""

    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=60)
    min_age = models.PositiveSmallIntegerField(_("minimum age"), default=0)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)
    reduction_percent = models.PositiveSmallIntegerField(
        _("reduction (%)"), default=0, validators=[MaxValueValidator(100)]
    )
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("passenger type")
        verbose_name_plural = _("passenger types")
        constraints = [
            models.CheckConstraint(
                condition=Q(reduction_percent__lte=100), name="passenger_reduction_range"
            ),
            models.CheckConstraint(
                condition=Q(max_age__isnull=True) | Q(max_age__gte=F("min_age")),
                name="passenger_age_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def accepts_age(self, age: int) -> bool:
        return age >= self.min_age and (self.max_age is None or age <= self.max_age)


class DiscountCard(models.Model):
    """A rail discount card. Its numbers start with ``number_prefix``, have
    ``number_length`` digits and end with a Luhn check digit."""

    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=60)
    min_age = models.PositiveSmallIntegerField(_("minimum age"), default=0)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)
    reduction_percent = models.PositiveSmallIntegerField(
        _("reduction (%)"), validators=[MaxValueValidator(100)]
    )
    number_prefix = models.CharField(
        _("number prefix"), max_length=8, validators=[RegexValidator(r"^\d+$")]
    )
    number_length = models.PositiveSmallIntegerField(_("number length"), default=12)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("discount card")
        verbose_name_plural = _("discount cards")
        constraints = [
            models.CheckConstraint(
                condition=Q(reduction_percent__lte=100), name="card_reduction_range"
            ),
            models.CheckConstraint(
                condition=Q(max_age__isnull=True) | Q(max_age__gte=F("min_age")),
                name="card_age_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def accepts_age(self, age: int) -> bool:
        return age >= self.min_age and (self.max_age is None or age <= self.max_age)


class AllocationState(models.TextChoices):
    HELD = "held", _("Held")
    SOLD = "sold", _("Sold")
    RELEASED = "released", _("Released")


LIVE_STATES = (AllocationState.HELD, AllocationState.SOLD)


class SeatAllocation(models.Model):
    """A seat of a departure that is held or sold. The partial unique constraint is the
    rule "one live hold or sale per seat per departure": locks order concurrent work, this
    constraint makes it correct. A held row whose ``expires_at`` has passed is free for
    every read, even before the worker marks it released."""

    departure = models.ForeignKey(Departure, on_delete=models.CASCADE, related_name="allocations")
    seat = models.ForeignKey(Seat, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=8, choices=AllocationState.choices)
    expires_at = models.DateTimeField(null=True, blank=True)
    # A hold or sale made through a trip's plan: which leg, for which traveller. Empty for
    # seats sold to other travellers (the demo's load, other channels).
    leg = models.ForeignKey(
        "TripLeg", on_delete=models.CASCADE, null=True, blank=True, related_name="allocations"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("seat allocation")
        verbose_name_plural = _("seat allocations")
        constraints = [
            models.UniqueConstraint(
                fields=["departure", "seat"],
                condition=Q(state__in=["held", "sold"]),
                name="one_live_allocation_per_seat",
            ),
            models.CheckConstraint(
                condition=~Q(state="sold") | Q(expires_at__isnull=True),
                name="sold_never_expires",
            ),
            # A traveller holds or owns one seat per leg of a trip.
            models.UniqueConstraint(
                fields=["leg", "user"],
                condition=Q(state__in=["held", "sold"]),
                name="one_live_seat_per_traveller_and_leg",
            ),
            models.CheckConstraint(
                condition=Q(leg__isnull=True, user__isnull=True)
                | Q(leg__isnull=False, user__isnull=False),
                name="allocation_leg_and_user_together",
            ),
        ]
        indexes = [
            models.Index(fields=["departure", "state"]),
            models.Index(
                fields=["expires_at"],
                condition=Q(state="held"),
                name="held_allocation_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.departure_id}/{self.seat_id}: {self.state}"


class Event(models.Model):
    """Something friends travel to: a festival, a concert. Trips can be built around it."""

    class Kind(models.TextChoices):
        FESTIVAL = "festival", _("Festival")
        CONCERT = "concert", _("Concert")
        OTHER = "other", _("Event")

    slug = models.SlugField(unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    station = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="events", verbose_name=_("nearest station")
    )
    venue = models.CharField(_("venue"), max_length=120)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["starts_on"]
        verbose_name = _("event")
        verbose_name_plural = _("events")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="event_dates_ordered"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Trip(models.Model):
    """A journey a friend group plans together: where from, where to (a station, or an
    event whose nearest station is the destination), when (a date or a range of dates),
    one way or return. The group (``groups.FriendGroup``) holds its members, roles and
    privacy; a group plans one or more trips. The live plan (legs, the departure poll,
    each member's fare and seat) hangs off the trip and bumps ``version`` on every change.
    """

    class Status(models.TextChoices):
        PLANNING = "planning", _("Planning")
        # Shares fixed, travellers paying (payments.Checkout): the plan is frozen.
        CHECKOUT = "checkout", _("Paying")
        BOOKED = "booked", _("Booked")
        CANCELLED = "cancelled", pgettext_lazy("booking", "Cancelled")

    group = models.ForeignKey(
        "groups.FriendGroup",
        on_delete=models.PROTECT,
        related_name="trips",
        verbose_name=_("friend group"),
    )
    title = models.CharField(_("title"), max_length=120)
    origin = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="+", verbose_name=_("from")
    )
    destination = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="+", verbose_name=_("to")
    )
    event = models.ForeignKey(
        Event,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="trips",
        verbose_name=_("event"),
    )
    outbound_from = models.DateField(_("leave on or after"))
    outbound_to = models.DateField(_("leave on or before"))
    return_from = models.DateField(_("come back on or after"), null=True, blank=True)
    return_to = models.DateField(_("come back on or before"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PLANNING
    )
    # Bumped by every change to the plan; every live event carries the new value.
    version = models.PositiveBigIntegerField(_("version"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["outbound_from", "pk"]
        verbose_name = _("trip")
        verbose_name_plural = _("trips")
        constraints = [
            models.CheckConstraint(
                condition=~Q(origin=F("destination")), name="trip_origin_not_destination"
            ),
            models.CheckConstraint(
                condition=Q(outbound_to__gte=F("outbound_from")), name="trip_outbound_ordered"
            ),
            models.CheckConstraint(
                condition=(Q(return_from__isnull=True) & Q(return_to__isnull=True))
                | (
                    Q(return_from__isnull=False)
                    & Q(return_to__gte=F("return_from"))
                    & Q(return_from__gte=F("outbound_from"))
                ),
                name="trip_return_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_return(self) -> bool:
        return self.return_from is not None


class TripLeg(models.Model):
    """One way of a trip: the outbound leg, and the return leg of a return trip. Its
    departure is chosen by a poll over candidate departures that the organiser settles."""

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", _("Outbound")
        RETURN = "return", _("Return")

    trip = models.ForeignKey(Trip, on_delete=models.CASCADE, related_name="legs")
    direction = models.CharField(_("direction"), max_length=8, choices=Direction.choices)
    departure = models.ForeignKey(
        Departure,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("chosen departure"),
    )
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)

    class Meta:
        ordering = ["trip", "direction"]
        verbose_name = _("trip leg")
        verbose_name_plural = _("trip legs")
        constraints = [
            models.UniqueConstraint(fields=["trip", "direction"], name="one_leg_per_direction"),
        ]

    def __str__(self) -> str:
        return f"{self.trip_id}/{self.direction}"


class PollOption(models.Model):
    """A candidate departure for a leg, proposed by the organiser."""

    leg = models.ForeignKey(TripLeg, on_delete=models.CASCADE, related_name="options")
    departure = models.ForeignKey(Departure, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # The train was cancelled (a disruption): the option stays, with its votes, for the
    # group's history, and can no longer be voted for or settled.
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["leg", "position", "pk"]
        verbose_name = _("poll option")
        verbose_name_plural = _("poll options")
        constraints = [
            models.UniqueConstraint(fields=["leg", "departure"], name="poll_option_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.leg_id}: {self.departure_id}"


class PollVote(models.Model):
    """A traveller's vote on a leg's poll: one option per traveller and leg."""

    leg = models.ForeignKey(TripLeg, on_delete=models.CASCADE, related_name="votes")
    option = models.ForeignKey(PollOption, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    voted_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("poll vote")
        verbose_name_plural = _("poll votes")
        constraints = [
            models.UniqueConstraint(fields=["leg", "user"], name="one_vote_per_traveller_and_leg"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.option_id}"


class TravellerFare(models.Model):
    """What one traveller chose for one leg: their fare, passenger type, discount card
    (with its number) and age. Private to them unless they chose to show it
    (``groups.Membership.shares_details``)."""

    leg = models.ForeignKey(TripLeg, on_delete=models.CASCADE, related_name="fares")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    fare_class = models.ForeignKey(FareClass, on_delete=models.PROTECT, related_name="+")
    passenger_type = models.ForeignKey(PassengerType, on_delete=models.PROTECT, related_name="+")
    discount_card = models.ForeignKey(
        DiscountCard, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    card_number = models.CharField(max_length=32, blank=True)
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("traveller fare")
        verbose_name_plural = _("traveller fares")
        constraints = [
            models.UniqueConstraint(fields=["leg", "user"], name="one_fare_per_traveller_and_leg"),
            models.CheckConstraint(
                condition=Q(discount_card__isnull=True) | ~Q(card_number=""),
                name="card_has_a_number",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.leg_id}/{self.user_id}: {self.fare_class_id}"


class TripEvent(models.Model):
    """The trip's event log: one row per change to the plan, numbered by the trip's
    version. A client that reconnects gets the events after the last version it saw."""

    trip = models.ForeignKey(Trip, on_delete=models.CASCADE, related_name="events")
    version = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=40)
    # Members-only payload: names, seats, statuses; never a card, an age or a price
    # unless the traveller chose to show them.
    payload = models.JSONField(default=dict)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trip", "version"]
        constraints = [
            models.UniqueConstraint(fields=["trip", "version"], name="trip_event_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.trip_id}@{self.version}: {self.kind}"


class TripPresence(models.Model):
    """Who has the trip's page open now: one row per websocket connection, touched by its
    heartbeats. A row not seen for ``PRESENCE_TIMEOUT_SECONDS`` is gone (a process that
    died cannot say goodbye); the worker deletes such rows."""

    trip = models.ForeignKey(Trip, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    connected_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["trip", "last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.trip_id}"


# --- Bookings and tickets (made by ``booking.services.booking_confirm``) ----------------------


class Booking(models.Model):
    """A trip whose seats are sold: made once every share is paid (``payments``)."""

    class State(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed")
        CANCELLED = "cancelled", pgettext_lazy("booking", "Cancelled")

    trip = models.ForeignKey(Trip, on_delete=models.PROTECT, related_name="bookings")
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.CONFIRMED
    )
    confirmed_at = models.DateTimeField(_("confirmed at"))
    # A chargeback on one of its payments: staff look at it.
    disputed = models.BooleanField(_("disputed"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-confirmed_at"]
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        constraints = [
            models.UniqueConstraint(fields=["trip"], name="one_booking_per_trip"),
        ]

    def __str__(self) -> str:
        return _("Booking %(id)s") % {"id": self.pk}


class Ticket(models.Model):
    """One traveller's seat on one leg of a booked trip, at the price frozen at checkout.
    Its QR code carries ``code`` signed (``booking.tickets``)."""

    class State(models.TextChoices):
        VALID = "valid", _("Valid")
        CANCELLED = "cancelled", pgettext_lazy("booking", "Cancelled")

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="tickets")
    traveller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    leg = models.ForeignKey(TripLeg, on_delete=models.PROTECT, related_name="tickets")
    allocation = models.OneToOneField(
        SeatAllocation, on_delete=models.PROTECT, related_name="ticket"
    )
    fare_class = models.ForeignKey(FareClass, on_delete=models.PROTECT, related_name="+")
    passenger_type = models.ForeignKey(PassengerType, on_delete=models.PROTECT, related_name="+")
    discount_card = models.ForeignKey(
        DiscountCard, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    price_cents = models.PositiveIntegerField(_("price (cents)"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    code = models.CharField(_("code"), max_length=20, unique=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.VALID)
    refunded_cents = models.PositiveIntegerField(_("refunded (cents)"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["booking", "leg__direction", "traveller_id"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        constraints = [
            # One valid ticket: a re-routed traveller's old ticket stays, voided, beside
            # the new one (docs/disruptions.md).
            models.UniqueConstraint(
                fields=["booking", "traveller", "leg"],
                condition=Q(state="valid"),
                name="one_valid_ticket_per_traveller_and_leg",
            ),
            models.CheckConstraint(
                condition=Q(refunded_cents__lte=F("price_cents")),
                name="ticket_refund_within_price",
            ),
            models.CheckConstraint(
                condition=Q(state="valid", cancelled_at__isnull=True)
                | Q(state="cancelled", cancelled_at__isnull=False),
                name="ticket_cancelled_has_a_date",
            ),
        ]

    def __str__(self) -> str:
        return self.code


# --- Disruptions (``booking.disruptions``: docs/disruptions.md) ------------------------------


class Disruption(models.Model):
    """What happened to a departure: cancelled, late (expected then actual arrival), or run
    with another vehicle. One row per departure and kind (a vehicle swap: per new
    vehicle); each change is a ``DisruptionChange`` row, and what it does to each trip is
    a ``DisruptedTrip`` work item for the worker."""

    class Kind(models.TextChoices):
        CANCELLATION = "cancellation", _("Cancellation")
        DELAY = "delay", _("Delay")
        VEHICLE_SWAP = "vehicle_swap", _("Vehicle swap")

    departure = models.ForeignKey(
        Departure, on_delete=models.PROTECT, related_name="disruptions", verbose_name=_("departure")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    expected_arrival_at = models.DateTimeField(_("expected arrival"), null=True, blank=True)
    actual_arrival_at = models.DateTimeField(_("actual arrival"), null=True, blank=True)
    old_vehicle = models.ForeignKey(
        Vehicle, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    new_vehicle = models.ForeignKey(
        Vehicle, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Travellers of a cancelled train choose (refund or re-routing) until then.
    choose_by = models.DateTimeField(_("choose by"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("disruption")
        verbose_name_plural = _("disruptions")
        constraints = [
            models.UniqueConstraint(
                fields=["departure", "kind"],
                condition=Q(kind__in=["cancellation", "delay"]),
                name="one_cancellation_or_delay_per_departure",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.departure_id}"

    @property
    def delay_minutes(self) -> int | None:
        """The arrival delay, actual when known, else expected; None when neither is."""
        at = self.actual_arrival_at or self.expected_arrival_at
        if at is None:
            return None
        return max(0, int((at - self.departure.arrives_at).total_seconds() // 60))


class DisruptionChange(models.Model):
    """One line of a disruption's history: what changed, when, by whom."""

    disruption = models.ForeignKey(Disruption, on_delete=models.CASCADE, related_name="changes")
    what = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["disruption", "at", "pk"]
        verbose_name = _("disruption change")
        verbose_name_plural = _("disruption changes")

    def __str__(self) -> str:
        return f"{self.disruption_id}: {self.what}"


class DisruptedTrip(models.Model):
    """A trip a disruption touches, the worker's unit of work: applied in one transaction
    (``disruptions.disrupted_trip_apply``) and then ``done``, so a worker killed midway
    resumes with the trips still ``pending``."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")

    disruption = models.ForeignKey(Disruption, on_delete=models.CASCADE, related_name="trips")
    trip = models.ForeignKey(Trip, on_delete=models.CASCADE, related_name="disruptions")
    # What the change was (``cancelled``, ``delay_expected``, ``delay_actual``,
    # ``vehicle_swapped``): a delay first expected then actual is two items.
    what = models.CharField(max_length=20)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    trip_status = models.CharField(max_length=10, blank=True)  # as found when applied
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("disrupted trip")
        verbose_name_plural = _("disrupted trips")
        constraints = [
            models.UniqueConstraint(
                fields=["disruption", "trip", "what"], name="one_item_per_trip_and_change"
            ),
        ]
        indexes = [
            models.Index(fields=["state"], condition=Q(state="pending"), name="disrupted_pending")
        ]

    def __str__(self) -> str:
        return f"{self.disruption_id}/{self.trip_id} {self.what}"


class DisruptionChoice(models.Model):
    """A booked traveller's choice for a ticket of a cancelled train (Regulation (EU)
    2021/782, art. 18): a full refund, or re-routing at no extra cost."""

    class Choice(models.TextChoices):
        PENDING = "pending", _("Not chosen yet")
        REFUND = "refund", _("Full refund")
        REROUTE = "reroute", _("Re-routing")

    disruption = models.ForeignKey(Disruption, on_delete=models.CASCADE, related_name="choices")
    ticket = models.OneToOneField(
        Ticket, on_delete=models.PROTECT, related_name="disruption_choice"
    )
    traveller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    choice = models.CharField(
        _("choice"), max_length=8, choices=Choice.choices, default=Choice.PENDING
    )
    choose_by = models.DateTimeField(_("choose by"))
    chosen_at = models.DateTimeField(null=True, blank=True)
    # Re-routing: the ticket it gave on the new train.
    new_ticket = models.OneToOneField(
        Ticket, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["disruption", "ticket"]
        verbose_name = _("choice after a cancellation")
        verbose_name_plural = _("choices after a cancellation")

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.choice}"


class Reroute(models.Model):
    """The train a group proposes to travel on instead of a cancelled one: one per trip and
    disruption (the first proposal wins; ``disruptions.reroute_propose``). Travellers
    accept it (``DisruptionChoice.Choice.REROUTE``) or take the refund; "sit us
    together" then seats those who accepted and issues their new tickets."""

    disruption = models.ForeignKey(Disruption, on_delete=models.CASCADE, related_name="reroutes")
    trip = models.ForeignKey(Trip, on_delete=models.CASCADE, related_name="reroutes")
    departure = models.ForeignKey(
        Departure, on_delete=models.PROTECT, related_name="+", verbose_name=_("new train")
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    proposed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("re-routing")
        verbose_name_plural = _("re-routings")
        constraints = [
            models.UniqueConstraint(
                fields=["disruption", "trip"], name="one_reroute_per_trip_and_disruption"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trip_id} → {self.departure_id}"
