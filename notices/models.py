from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Message(models.Model):
    """One message to one person on one channel, about one object (a checkout, a
    booking, a ticket…). Written by ``notices.services.message_queue`` in the transaction
    of the change that causes it; sent by the worker (``notices.sending``). The unique
    constraint makes a repeated cause (a webhook delivered twice, a retried service)
    queue nothing more."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")

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
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("recipient"),
    )
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.EMAIL
    )
    language = models.CharField(_("language"), max_length=8)
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
        return f"{self.kind} #{self.object_id} → {self.recipient_id} ({self.state})"


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
