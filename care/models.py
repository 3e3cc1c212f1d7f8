"""Care conversations: a traveller (or their whole group) and the operator's care team,
about one trip. ``care`` sits above ``payments`` and ``booking`` and writes only these
rows (docs/care.md)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MESSAGE_MAX_CHARS = 2000


class Case(models.Model):
    """One request for help about one trip. ``open``: waiting for the care team (new, or
    the traveller wrote after an answer); ``answered``: the team wrote last;
    ``resolved``: closed by the team (a new message from a traveller opens it again)."""

    class State(models.TextChoices):
        OPEN = "open", _("Waiting for an answer")
        ANSWERED = "answered", _("Answered")
        RESOLVED = "resolved", _("Resolved")

    class Visibility(models.TextChoices):
        ME = "me", _("Only me")
        GROUP = "group", _("The whole group")

    trip = models.ForeignKey(
        "booking.Trip", on_delete=models.CASCADE, related_name="+", verbose_name=_("trip")
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("opened by"),
    )
    visibility = models.CharField(
        _("who sees it"), max_length=5, choices=Visibility.choices, default=Visibility.ME
    )
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned to"),
    )
    created_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    # The inbox's order: the open cases that have waited longest come first.
    last_message_at = models.DateTimeField(_("last message at"))
    first_response_at = models.DateTimeField(_("first answered at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("care case")
        verbose_name_plural = _("care cases")
        permissions = [("answer_case", _("Can read and answer every care case"))]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="resolved") | Q(resolved_at__isnull=False),
                name="care_resolved_case_has_a_date",
            ),
            models.CheckConstraint(
                condition=Q(first_response_at__isnull=True)
                | Q(first_response_at__gte=models.F("created_at")),
                name="care_first_response_after_opening",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "last_message_at"], name="care_case_inbox"),
            models.Index(
                fields=["first_response_at"],
                condition=Q(first_response_at__isnull=False),
                name="care_case_first_response",
            ),
        ]

    def __str__(self) -> str:
        return _("Case %(id)s") % {"id": self.pk}

    @property
    def first_response_seconds(self) -> int | None:
        if self.first_response_at is None:
            return None
        return int((self.first_response_at - self.created_at).total_seconds())


class CaseMessage(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Written by the care team (shown as such), not by one of the case's travellers.
    by_staff = models.BooleanField(_("by the care team"), default=False)
    body = models.TextField(_("message"), max_length=MESSAGE_MAX_CHARS)
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("care message")
        verbose_name_plural = _("care messages")

    def __str__(self) -> str:
        return self.body[:60]


class CaseWatcher(models.Model):
    """A traveller's open conversation page (one row per socket): someone seen here
    recently is told of an answer on the page, not by e-mail."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["case", "seen_at"], name="care_watcher_case")]

    def __str__(self) -> str:
        return f"{self.case_id}/{self.user_id}"
