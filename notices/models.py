from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Message(models.Model):
    """One message to one person on one channel (e-mail, push), about one object (a checkout, a
    booking, a ticket…). Written by ``notices.services.message_queue`` in the transaction
    of the change that causes it; sent by the worker (``notices.sending``). The unique
    constraint makes a repeated cause (a webhook delivered twice, a retried service)
    queue nothing more."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        # A notification on the person's phone or computer (Web Push, ``notices.push``).
        PUSH = "push", _("Push notification")

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        # Nothing to send any more (the object is gone, or the person opted out).
        DROPPED = "dropped", _("Dropped")

    kind = models.CharField(_("kind"), max_length=64)
    # What the message is about, named by the app that registered the kind
    # ("payments.checkout", "booking.booking"…): notices cannot import those models.
    object_type = models.CharField(_("object type"), max_length=64)
    object_id = models.PositiveBigIntegerField(_("object id"))
    # The trip it belongs to, when there is one: the admin lists a trip's messages.
    trip_id = models.PositiveBigIntegerField(_("trip"), null=True, blank=True, db_index=True)
    # A person with an account; or, for someone who has none yet (an invitation sent to
    # an e-mail address), only their ``address``.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recipient"),
    )
    address = models.EmailField(_("address"), blank=True)
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.EMAIL
    )
    language = models.CharField(_("language"), max_length=8)
    # The origin of the request that queued it ("" from the worker): its links point
    # there when SITE_URL is not set (core/site.py).
    site_url = models.CharField(_("site address"), max_length=200, blank=True, default="")
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_type", "object_id", "recipient", "channel"],
                name="message_once_per_kind_object_recipient_channel",
            ),
            # The same once-only rule for an address without account (NULL recipients
            # are all distinct to the constraint above).
            models.UniqueConstraint(
                fields=["kind", "object_type", "object_id", "address", "channel"],
                condition=models.Q(recipient__isnull=True),
                name="message_once_per_kind_object_address_channel",
            ),
            models.CheckConstraint(
                condition=models.Q(recipient__isnull=False) | ~models.Q(address=""),
                name="message_has_a_recipient_or_an_address",
            ),
        ]
        indexes = [
            # The worker's scan: due messages still to send.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="queued"),
                name="message_due",
            ),
        ]

    def __str__(self) -> str:
        to = self.recipient_id or self.address
        return f"{self.kind} #{self.object_id} → {to} ({self.state})"

    @property
    def email_address(self) -> str:
        """Where the e-mail goes: the address it was queued for, else the account's."""
        if self.address:
            return self.address
        return self.recipient.email if self.recipient_id else ""


class Preference(models.Model):
    """What a person wants beyond the essential messages (payments, tickets, refunds:
    always sent): the plan's news by e-mail (the train chosen, …). No row: the
    defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
        verbose_name=_("user"),
    )
    email_updates = models.BooleanField(_("e-mails about the plan's news"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message preference")
        verbose_name_plural = _("message preferences")

    def __str__(self) -> str:
        return f"{self.user_id}: {'updates' if self.email_updates else 'essential only'}"


class PushSubscription(models.Model):
    """A browser where a person turned notifications on (Web Push, RFC 8030): the push
    service's endpoint to POST to, and the browser's keys the payload is encrypted with
    (RFC 8291). Removed when the push service answers 404 or 410 (the person turned them
    off, or the browser dropped it), when they turn them off on the trip page, and when
    the account is deleted."""

    # Endpoints seen in the wild are 150-400 characters; the API refuses longer ones.
    ENDPOINT_MAX_LENGTH = 1024

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    # One browser's subscription belongs to one person: subscribing again from a shared
    # device moves it to whoever is logged in now.
    endpoint = models.URLField(_("endpoint"), max_length=ENDPOINT_MAX_LENGTH, unique=True)
    # The browser's P-256 public key (65 bytes) and auth secret (16 bytes), base64url.
    p256dh = models.CharField(_("public key"), max_length=100)
    auth = models.CharField(_("auth secret"), max_length=32)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_success_at = models.DateTimeField(_("last success at"), null=True, blank=True)

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.endpoint[:60]}"
