"""Share links and what they bring back: the clicks on them, the browsers (visitors) that
made them, and the daily rollups the dashboard reads.

Nothing here identifies a person by their network address: a click keeps an HMAC of the
address under a salt that changes every day (``referrals.tracking.ip_hash``), enough to
spot a flood from one source on one day and useless to follow anyone across days.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# 9 random bytes: 72 bits, 12 URL-safe characters. Guessing one live code among a million
# takes about 2**52 tries, and the click rate limit makes each try slow.
CODE_BYTES = 9
CODE_LENGTH = 12


def new_share_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def new_visitor_key() -> str:
    return secrets.token_urlsafe(16)


class LocalDayField(models.DateField):
    """The local day (``TIME_ZONE``) of another date-time field of the row (``of``, declared
    before it), written with the row on every save, so the dashboard groups by day without
    converting each row's time. ``QuerySet.update`` of that field does not follow: update
    both."""

    def __init__(self, *args, of: str, **kwargs):
        self.of = of
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["of"] = self.of
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        moment = getattr(model_instance, self.of)
        value = timezone.localdate(moment) if moment is not None else None
        setattr(model_instance, self.attname, value)
        return value


class ShareChannel(models.TextChoices):
    FACEBOOK = "facebook", _("Facebook")
    X = "x", _("X")
    WHATSAPP = "whatsapp", _("WhatsApp")
    MESSENGER = "messenger", _("Messenger")
    WEBSHARE = "webshare", _("Share menu")
    COPY = "copy", _("Copied link")


class ShareLink(models.Model):
    """A tracked link ``/r/<code>/``: one per trip, sharer and channel.

    The issue asks for one per *booking* × member × channel. Bookings do not exist for
    sharing yet, so the link hangs off the trip (a trip has at most one booking); the
    booking is added to the link when sharing after booking lands (docs/referrals.md).
    """

    code = models.CharField(_("code"), max_length=24, unique=True, default=new_share_code)
    trip = models.ForeignKey(
        "booking.Trip", on_delete=models.CASCADE, related_name="+", verbose_name=_("trip")
    )
    sharer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("shared by"),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=ShareChannel.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Copies for the dashboard, written with the link: the local day it was made, and its
    # trip's destination (fixed once the trip is booked; links are made after).
    day = LocalDayField(of="created_at")
    destination = models.ForeignKey(
        "booking.Station", on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        verbose_name = _("share link")
        verbose_name_plural = _("share links")
        # Staff who may read the referrals dashboard and its API (docs/referrals.md).
        permissions = [("view_dashboard", _("Can view the referrals dashboard"))]
        constraints = [
            models.UniqueConstraint(
                fields=["trip", "sharer", "channel"], name="one_share_link_per_channel"
            ),
        ]
        # The dashboard counts a range's links and sharers by day, channel and destination
        # from these indexes alone on PostgreSQL (index-only scans); the last two give the
        # sharers in order for their distinct counts per channel and per destination.
        indexes = [
            models.Index(
                fields=["day", "channel", "sharer", "destination"], name="sharelink_day_counts"
            ),
            models.Index(fields=["channel", "sharer", "day"], name="sharelink_channel_sharers"),
            models.Index(
                fields=["destination", "sharer", "day"], name="sharelink_destination_sharers"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs):
        if self.destination_id is None and self.trip_id is not None:
            self.destination_id = self.trip.destination_id
        super().save(*args, **kwargs)


class Consent(models.TextChoices):
    UNKNOWN = "unknown", _("Not asked yet")
    GRANTED = "granted", _("Granted")
    REFUSED = "refused", _("Refused")


class Visitor(models.Model):
    """A browser that opened a share link. ``key`` is random; it lives in a first-party
    cookie when the person consented, else in their session only. It holds nothing about
    the person."""

    key = models.CharField(_("key"), max_length=32, unique=True, default=new_visitor_key)
    consent = models.CharField(
        _("consent"), max_length=8, choices=Consent.choices, default=Consent.UNKNOWN
    )
    first_seen = models.DateTimeField(_("first seen"), auto_now_add=True)

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")

    def __str__(self) -> str:
        return f"{self.pk} ({self.consent})"


class Click(models.Model):
    """One request for a share link's landing page: a visit by a browser, or a preview by
    a link crawler (``is_preview``, no visitor). A ``flagged`` row marks a source (one
    ``ip_hash``) that went past the click rate limit on the link; it is not a visit."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="clicks")
    visitor = models.ForeignKey(
        Visitor, on_delete=models.SET_NULL, null=True, blank=True, related_name="clicks"
    )
    # A copy of the link's, so counts by channel need no join.
    channel = models.CharField(max_length=10, choices=ShareChannel.choices)
    at = models.DateTimeField(db_index=True)
    is_preview = models.BooleanField(default=False)
    flagged = models.BooleanField(default=False)
    # The visitor was made by this click (a browser that brought no visitor key): the
    # rollup counts such clicks once per source, link and day.
    new_visitor = models.BooleanField(default=False)
    # HMAC-SHA256 of the address under the day's salt: never the address itself.
    ip_hash = models.CharField(max_length=64)
    user_agent_family = models.CharField(max_length=40, blank=True)

    class Meta:
        verbose_name = _("click")
        verbose_name_plural = _("clicks")
        indexes = [
            models.Index(fields=["link", "at"], name="click_link_at"),
            models.Index(
                fields=["link", "ip_hash"], condition=Q(flagged=True), name="click_flagged_source"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.link_id} @ {self.at:%Y-%m-%d %H:%M}"


class DailyRollup(models.Model):
    """Clicks (and share intents) of one link on one day (in ``TIME_ZONE``), recomputed by
    the ``rollup`` job. A flooding source counts as one visit and one visitor that day.

    ``channel``, ``destination`` and ``sharer`` are copies of the link's (its trip's
    destination), written by the job: the dashboard groups a quarter's rows (hundreds of
    thousands) by them, and joining every row to its link and trip cost it seconds."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="rollups")
    day = models.DateField()
    channel = models.CharField(max_length=10, choices=ShareChannel.choices)
    destination = models.ForeignKey(
        "booking.Station", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    sharer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    previews = models.PositiveIntegerField(default=0)
    visits = models.PositiveIntegerField(default=0)
    unique_visitors = models.PositiveIntegerField(default=0)
    flagged = models.PositiveIntegerField(default=0)
    # Presses of the link's share buttons that day (``ShareIntent``), counted by the job too.
    share_intents = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("daily rollup")
        verbose_name_plural = _("daily rollups")
        constraints = [
            models.UniqueConstraint(fields=["link", "day"], name="one_rollup_per_link_and_day"),
        ]
        indexes = [
            # The dashboard's top sharers when they must be summed over every row of the
            # range: read from this index alone on PostgreSQL (an index-only scan).
            models.Index(
                fields=["day", "channel", "sharer", "unique_visitors", "destination"],
                name="rollup_day_channel_sharer",
            ),
            # A sharer's rows (their total, and the top sharers' sums), read from the index
            # alone; it serves the sharer's foreign key too.
            models.Index(
                fields=["sharer", "day", "unique_visitors"], name="rollup_sharer_day_visitors"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.link_id} {self.day}"


class SharerTotal(models.Model):
    """All the unique visitors of a sharer's daily rollups, summed (every day), kept by the
    ``rollup`` job for the sharers of the days it re-rolls. Never less than the sharer's
    visitors over any range of days: the dashboard's top sharers sum the rollups of the
    few sharers whose total can reach the tenth place, not of every sharer
    (``selectors.dashboard_get``)."""

    sharer = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    visitors = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("sharer's total")
        verbose_name_plural = _("sharers' totals")
        indexes = [models.Index(fields=["-visitors"], name="sharer_total_visitors")]

    def __str__(self) -> str:
        return f"{self.sharer_id}: {self.visitors}"


class DailySummary(models.Model):
    """The daily rollups of one day summed per channel and destination (a few thousand rows
    a quarter, against hundreds of thousands of link-days), rewritten by the ``rollup`` job
    for the days it re-rolls, from the ``DailyRollup`` rows themselves: the dashboard's
    previews, visits, visitors and share intents by day, channel and destination are
    grouped from these. ``unique_visitors`` is the rollups' sum (one person on two links or
    two days counts twice, as on the dashboard)."""

    day = models.DateField()
    channel = models.CharField(max_length=10, choices=ShareChannel.choices)
    destination = models.ForeignKey(
        "booking.Station", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    previews = models.PositiveIntegerField(default=0)
    visits = models.PositiveIntegerField(default=0)
    unique_visitors = models.PositiveIntegerField(default=0)
    flagged = models.PositiveIntegerField(default=0)
    share_intents = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("daily summary")
        verbose_name_plural = _("daily summaries")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "channel", "destination"], name="one_summary_per_day_segment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.destination_id}"


# --- Share intents, accounts' browsers and conversions -----------------------------------


class ShareIntent(models.Model):
    """One press of a share button. Facebook's Share Dialog does not tell us whether the
    person posted (and the other networks neither), so presses are counted, and visits
    measured, instead of posts."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="intents")
    channel = models.CharField(max_length=10, choices=ShareChannel.choices)
    at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("share intent")
        verbose_name_plural = _("share intents")

    def __str__(self) -> str:
        return f"{self.link_id} {self.channel} @ {self.at:%Y-%m-%d %H:%M}"


class VisitorUser(models.Model):
    """A browser (``Visitor``) an account signed up or logged in from, so a booking made
    later (no request at hand) can be traced to the share that brought the person.

    Without consent a visitor lasts for the session only: ``expires_at`` is the session's
    end (set to the logout time when the person logs out), and the link counts only
    before it — unless the visitor has since granted consent."""

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="accounts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    linked_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("visitor's account")
        verbose_name_plural = _("visitors' accounts")
        constraints = [
            models.UniqueConstraint(fields=["visitor", "user"], name="one_link_per_visitor_user"),
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id} → {self.user_id}"


class ConversionKind(models.TextChoices):
    SIGNUP = "signup", _("Sign-up")
    TRIP_CREATED = "trip_created", _("Trip created")
    BOOKING = "booking", _("Booking")


class Conversion(models.Model):
    """A sign-up, a trip created or a traveller's booking credited to the last share its
    person clicked within ``REFERRALS["ATTRIBUTION_DAYS"]`` (``referrals.attribution``).
    A booking's revenue is that traveller's tickets; refunds add to ``reversed_cents``
    (never more than ``amount_cents``)."""

    kind = models.CharField(_("kind"), max_length=12, choices=ConversionKind.choices)
    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="conversions")
    # Copies of the link's (and its trip's destination), so the dashboard counts them by
    # channel and destination without joining them to links and trips. ``save`` fills the
    # destination from the link when it is not given; ``day`` is the local day of ``at``.
    channel = models.CharField(max_length=10, choices=ShareChannel.choices)
    destination = models.ForeignKey(
        "booking.Station", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    click = models.ForeignKey(
        Click, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    visitor = models.ForeignKey(
        Visitor, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    trip = models.ForeignKey(
        "booking.Trip", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    booking = models.ForeignKey(
        "booking.Booking", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    amount_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    reversed_cents = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(db_index=True)
    day = LocalDayField(of="at")  # for the dashboard, as on share links

    class Meta:
        verbose_name = _("conversion")
        verbose_name_plural = _("conversions")
        constraints = [
            # Each event is credited once, however often its signal arrives.
            models.UniqueConstraint(
                fields=["user"], condition=Q(kind="signup"), name="one_signup_conversion"
            ),
            models.UniqueConstraint(
                fields=["trip"], condition=Q(kind="trip_created"), name="one_trip_conversion"
            ),
            models.UniqueConstraint(
                fields=["booking", "user"],
                condition=Q(kind="booking"),
                name="one_booking_conversion_per_traveller",
            ),
            models.CheckConstraint(
                condition=Q(reversed_cents__lte=F("amount_cents")),
                name="conversion_reversed_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["link", "at"], name="conversion_link_at"),
            # The dashboard's grouped counts over a range, read from this index alone on
            # PostgreSQL (an index-only scan).
            models.Index(
                fields=["day", "channel", "destination", "kind", "amount_cents", "reversed_cents"],
                name="conversion_day_counts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} via {self.link_id}"

    def save(self, *args, **kwargs):
        if self.destination_id is None and self.link_id is not None:
            self.destination_id = self.link.trip.destination_id
        super().save(*args, **kwargs)


# --- Incentives: a reward per converted friend, spent on the sharer's next trip ---------------


class Reward(models.Model):
    """The sharer's credit for one converted friend (``REFERRALS["INCENTIVE"]`` on): the
    first booking the friend made through one of the sharer's links. One per friend,
    ever (a unique constraint): a friend converts once. Never the sharer themselves
    (attribution never credits one's own link; a check constraint says it again).

    The credit pays part of the sharer's own share at a later checkout (``RewardUse``,
    through ``payments.credits``). ``used_cents`` is what its uses hold (reserved or
    spent); ``reversed_cents`` what a refund of the friend's booking took back. What is
    left to spend: ``amount − used − reversed``.

    States: ``earned`` (some or all of it still to spend, or reserved at a checkout) →
    ``spent`` (all of it spent on confirmed bookings) or ``reversed`` (the friend's booking
    was refunded: the unspent part is taken back; what was already spent stays spent)."""

    class State(models.TextChoices):
        EARNED = "earned", _("Earned")
        SPENT = "spent", _("Spent")
        REVERSED = "reversed", _("Reversed")

    sharer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("sharer"),
    )
    friend = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("friend"),
    )
    conversion = models.OneToOneField(
        Conversion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reward",
        verbose_name=_("conversion"),
    )
    link = models.ForeignKey(
        ShareLink,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("share link"),
    )
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    currency = models.CharField(_("currency"), max_length=3)
    used_cents = models.PositiveIntegerField(_("used (cents)"), default=0)
    reversed_cents = models.PositiveIntegerField(_("reversed (cents)"), default=0)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.EARNED)
    earned_at = models.DateTimeField(_("earned at"))
    spent_at = models.DateTimeField(_("spent at"), null=True, blank=True)
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)

    class Meta:
        ordering = ["-earned_at", "-pk"]
        verbose_name = _("referral reward")
        verbose_name_plural = _("referral rewards")
        constraints = [
            models.UniqueConstraint(fields=["friend"], name="one_reward_per_friend"),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="reward_positive"),
            models.CheckConstraint(
                condition=Q(used_cents__lte=F("amount_cents") - F("reversed_cents")),
                name="reward_used_within_amount",
            ),
            models.CheckConstraint(condition=~Q(sharer=F("friend")), name="reward_not_for_oneself"),
        ]
        indexes = [
            models.Index(
                fields=["sharer", "earned_at"],
                condition=Q(state="earned"),
                name="reward_spendable",
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount_cents} {self.currency} → {self.sharer_id}"

    @property
    def left_cents(self) -> int:
        return self.amount_cents - self.used_cents - self.reversed_cents


class RewardUse(models.Model):
    """Part of a reward applied to its sharer's own share at checkout start: ``reserved``
    while the checkout runs, ``spent`` once the booking is confirmed, ``released`` (back to
    the reward) when the share is dropped or the checkout cancelled."""

    class State(models.TextChoices):
        RESERVED = "reserved", _("Reserved")
        SPENT = "spent", _("Spent")
        RELEASED = "released", _("Released")

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="uses")
    share = models.ForeignKey("payments.Share", on_delete=models.PROTECT, related_name="+")
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    state = models.CharField(
        _("state"), max_length=8, choices=State.choices, default=State.RESERVED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["reward", "pk"]
        verbose_name = _("reward use")
        verbose_name_plural = _("reward uses")
        constraints = [
            models.UniqueConstraint(
                fields=["reward", "share"], name="one_use_per_reward_and_share"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="reward_use_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.reward_id} → share {self.share_id}: {self.amount_cents} ({self.state})"


class RollupRun(models.Model):
    """When the ``rollup`` job last finished (one row, upserted by each run, in the same
    transaction as its rows): the dashboard says how fresh its figures are, even after a
    run that found no click."""

    name = models.CharField(max_length=20, unique=True, default="rollup")
    finished_at = models.DateTimeField()
    first_day = models.DateField()
    last_day = models.DateField()

    class Meta:
        verbose_name = _("rollup run")
        verbose_name_plural = _("rollup runs")

    def __str__(self) -> str:
        return f"{self.name} {self.finished_at:%Y-%m-%d %H:%M}"
