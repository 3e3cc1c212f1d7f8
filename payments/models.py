"""Split payments (docs/design/payments.md): a trip's checkout, what each traveller owes
(``Share``, frozen per leg in ``ShareItem``), and the PaymentIntents that pay the shares
(``Payment``, one per payer and attempt). ``StripeEvent`` and ``Refund`` record webhooks
and refunds. Money is an integer number of cents with an upper-case currency code.

Every change goes through ``payments.services``; the admin shows these rows read-only.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Checkout(models.Model):
    """One attempt at paying for a trip: from the organiser's start to the booking (or
    its cancellation). At most one per trip is not cancelled."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        GRACE = "grace", _("Grace period")
        CONFIRMING = "confirming", _("Confirming")
        CONFIRMED = "confirmed", _("Confirmed")
        CANCELLED = "cancelled", pgettext_lazy("booking", "Cancelled")

    class Policy(models.TextChoices):
        GO_AHEAD = "go_ahead", _("Go ahead without the unpaid")
        CANCEL_ALL = "cancel_all", _("Cancel everything")
        GRACE = "grace", _("Give a grace period")

    trip = models.ForeignKey("booking.Trip", on_delete=models.PROTECT, related_name="checkouts")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    policy = models.CharField(_("when the deadline passes"), max_length=10, choices=Policy.choices)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    deadline_at = models.DateTimeField(_("pay by"))
    grace_until = models.DateTimeField(_("grace period until"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The confirmation task (``payments.tasks``): while ``confirming``, when the worker
    # runs it (next), and how many times it was started (its backoff).
    confirm_after = models.DateTimeField(null=True, blank=True)
    confirm_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("checkout")
        verbose_name_plural = _("checkouts")
        constraints = [
            models.UniqueConstraint(
                fields=["trip"], condition=~Q(state="cancelled"), name="one_live_checkout_per_trip"
            ),
            models.CheckConstraint(
                condition=Q(grace_until__isnull=True) | Q(grace_until__gt=F("deadline_at")),
                name="checkout_grace_after_deadline",
            ),
            models.CheckConstraint(
                condition=~Q(state="confirmed") | Q(confirmed_at__isnull=False),
                name="checkout_confirmed_has_a_date",
            ),
        ]
        indexes = [
            models.Index(
                fields=["deadline_at"],
                condition=Q(state__in=["open", "grace"]),
                name="checkout_open_deadline",
            )
        ]

    def __str__(self) -> str:
        return _("Checkout %(id)s") % {"id": self.pk}


class Payment(models.Model):
    """One payer's PaymentIntent for one or more shares. A declined card ends the
    payment (``failed``); paying again makes a new one (``attempt`` + 1), so every Stripe
    write has its own idempotency key, derived from ``key``."""

    class State(models.TextChoices):
        CREATED = "created", _("Created")
        REQUIRES_ACTION = "requires_action", _("Waiting for the bank")
        AUTHORISED = "authorised", _("Authorised")
        CAPTURED = "captured", _("Captured")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", pgettext_lazy("booking", "Cancelled")

    checkout = models.ForeignKey(Checkout, on_delete=models.PROTECT, related_name="payments")
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    attempt = models.PositiveSmallIntegerField(default=1)
    # Idempotency keys are made from this, not from the row id: ids are reused when a
    # database is reset (tests, demo), Stripe's keys live 24 hours.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    stripe_payment_intent_id = models.CharField(
        _("PaymentIntent"), max_length=255, unique=True, null=True, blank=True
    )
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.CREATED
    )
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    # The card it was authorised with, for the payer's own receipt and pay page only
    # (never shown to another traveller): brand and last four digits, nothing more.
    card_brand = models.CharField(_("card brand"), max_length=32, blank=True)
    card_last4 = models.CharField(_("card's last four digits"), max_length=4, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    authorised_at = models.DateTimeField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["checkout", "created_at", "pk"]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(
                fields=["checkout", "payer", "attempt"], name="one_payment_per_attempt"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payment_positive"),
            models.CheckConstraint(
                condition=~Q(state__in=["authorised", "captured", "requires_action"])
                | Q(stripe_payment_intent_id__isnull=False),
                name="payment_progress_has_an_intent",
            ),
        ]

    def __str__(self) -> str:
        return self.stripe_payment_intent_id or _("Payment %(id)s") % {"id": self.pk}

    def idempotency_key(self, action: str) -> str:
        """``pi-create-<key>-<attempt>``, ``pi-capture-<key>``…: one key per Stripe write."""
        if action in ("create", "confirm"):
            return f"pi-{action}-{self.key}-{self.attempt}"
        return f"pi-{action}-{self.key}"


class Share(models.Model):
    """What one traveller owes for the trip, fixed at checkout start. Paid by its
    traveller or by a friend (``payment`` is the one covering it, empty while nobody does).
    ``authorised`` and ``captured`` shares always have their payment.

    ``amount_cents`` is what the payer pays (the PaymentIntent's part): the share's items
    less ``credit_cents``, the traveller's own credit (a referral reward) applied at
    checkout start through ``payments.credits``. So ``amount_cents + credit_cents`` is the
    sum of the items, the price of the tickets."""

    class State(models.TextChoices):
        UNPAID = "unpaid", _("Unpaid")
        AUTHORISED = "authorised", _("Authorised")
        CAPTURED = "captured", _("Paid")
        RELEASED = "released", _("Released")
        REFUNDED = "refunded", _("Refunded")

    checkout = models.ForeignKey(Checkout, on_delete=models.CASCADE, related_name="shares")
    traveller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    credit_cents = models.PositiveIntegerField(_("credit applied (cents)"), default=0)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.UNPAID)
    # The same checkout as the share's: the services see to it (a composite foreign key
    # would say it, Django has none).
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="shares"
    )
    # How many payment reminders its traveller was sent (payments.deadlines): each one
    # goes out once, whatever the worker does.
    reminders_sent = models.PositiveSmallIntegerField(_("reminders sent"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["checkout", "pk"]
        verbose_name = _("share")
        verbose_name_plural = _("shares")
        constraints = [
            models.UniqueConstraint(
                fields=["checkout", "traveller"], name="one_share_per_traveller"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="share_positive"),
            models.CheckConstraint(
                condition=~Q(state__in=["authorised", "captured", "refunded"])
                | Q(payment__isnull=False),
                name="share_paid_has_a_payment",
            ),
            models.CheckConstraint(
                condition=~Q(state="released") | Q(payment__isnull=True),
                name="share_released_has_no_payment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.checkout_id}/{self.traveller_id}: {self.amount_cents}"


class ShareItem(models.Model):
    """One leg of a share, frozen at checkout start: the tickets are made from these."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="items")
    leg = models.ForeignKey("booking.TripLeg", on_delete=models.PROTECT, related_name="+")
    allocation = models.OneToOneField(
        "booking.SeatAllocation", on_delete=models.PROTECT, related_name="share_item"
    )
    fare_class = models.ForeignKey("booking.FareClass", on_delete=models.PROTECT, related_name="+")
    passenger_type = models.ForeignKey(
        "booking.PassengerType", on_delete=models.PROTECT, related_name="+"
    )
    discount_card = models.ForeignKey(
        "booking.DiscountCard", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))

    class Meta:
        ordering = ["share", "leg__direction"]
        verbose_name = _("share item")
        verbose_name_plural = _("share items")
        constraints = [
            models.UniqueConstraint(fields=["share", "leg"], name="one_share_item_per_leg"),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="share_item_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.share_id}/{self.leg_id}: {self.amount_cents}"


class StripeEvent(models.Model):
    """Each webhook event once (a replay finds its row and changes nothing)."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Handled by the worker (``payments.tasks``), not in Stripe's request: how many times
    # it was taken, and when it may be taken again (the backoff after a failure).
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("Stripe event")
        verbose_name_plural = _("Stripe events")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(handled_at__isnull=True),
                name="stripe_event_unhandled",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class Refund(models.Model):
    """Money given back for a cancelled ticket, through Stripe with a key from our ids."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    class Reason(models.TextChoices):
        TICKET_CANCELLED = "ticket", _("Ticket cancelled")
        TRAIN_CANCELLED = "train_cancelled", _("Train cancelled")
        DELAY = "delay", _("Delay compensation")
        CHECKOUT_CANCELLED = "checkout", _("Checkout cancelled")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    ticket = models.ForeignKey(
        "booking.Ticket", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Why the money goes back: the traveller cancelled by the fare's rules, the train was
    # cancelled (a full refund), or it arrived late (compensation, a partial refund).
    reason = models.CharField(
        _("reason"), max_length=16, choices=Reason.choices, default=Reason.TICKET_CANCELLED
    )
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="refund_positive"),
        ]

    def __str__(self) -> str:
        return self.stripe_refund_id or _("Refund %(id)s") % {"id": self.pk}


class Compensation(models.Model):
    """Delay compensation for one ticket (Regulation (EU) 2021/782, art. 19): a share of
    its price, once per ticket (the unique ticket), paid as a partial refund to the card
    that paid it, or, when the traveller preferred (``CompensationPreference``), as credit
    on a next trip (``credited``: no refund; ``CompensationCreditUse`` spends it)."""

    class State(models.TextChoices):
        PAID = "paid", _("Paid")
        CREDITED = "credited", _("Credit for a next trip")
        PENDING = "pending", _("Pending")
        BELOW_THRESHOLD = "below", _("Below the threshold")
        NOTHING_CAPTURED = "nothing", _("Nothing to give back")

    ticket = models.OneToOneField(
        "booking.Ticket", on_delete=models.PROTECT, related_name="compensation"
    )
    disruption = models.ForeignKey(
        "booking.Disruption", on_delete=models.PROTECT, related_name="compensations"
    )
    delay_minutes = models.PositiveIntegerField(_("delay (minutes)"))
    percent = models.PositiveSmallIntegerField(_("percent of the price"))
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    state = models.CharField(_("state"), max_length=8, choices=State.choices)
    refund = models.OneToOneField(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="compensation"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("delay compensation")
        verbose_name_plural = _("delay compensations")

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.amount_cents}"


class CompensationPreference(models.Model):
    """How a traveller wants their compensation for one late train (art. 19(4)): to the
    card that paid (the default, no row needed) or as credit on a next trip. Set on the
    trip page's banner until the compensation is made; read when it is."""

    class Form(models.TextChoices):
        CARD = "card", _("To the card that paid")
        CREDIT = "credit", _("Credit for a next trip")

    traveller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    disruption = models.ForeignKey(
        "booking.Disruption", on_delete=models.CASCADE, related_name="compensation_preferences"
    )
    form = models.CharField(_("form"), max_length=8, choices=Form.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["traveller", "disruption"], name="compensation_preference_once"
            )
        ]
        verbose_name = _("compensation preference")
        verbose_name_plural = _("compensation preferences")

    def __str__(self) -> str:
        return f"{self.traveller_id} {self.disruption_id}: {self.form}"


class CompensationCreditUse(models.Model):
    """Part of a credited compensation reserved on a share at checkout start (the credit
    source ``payments.disruptions.CompensationCredits``): ``used`` (spent once the booking
    is made), or ``released`` when the share was dropped or its checkout cancelled."""

    class State(models.TextChoices):
        USED = "used", _("Used")
        RELEASED = "released", _("Released")

    compensation = models.ForeignKey(
        Compensation, on_delete=models.PROTECT, related_name="credit_uses"
    )
    share = models.ForeignKey(Share, on_delete=models.PROTECT, related_name="+")
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.USED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("compensation credit use")
        verbose_name_plural = _("compensation credit uses")

    def __str__(self) -> str:
        return f"{self.compensation_id} → share {self.share_id}: {self.amount_cents}"
