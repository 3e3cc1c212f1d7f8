"""People: the profile every user of Sidebyside has, whichever door they came in by
(Facebook Login or an e-mail address confirmed by a code).

The login itself (accounts, e-mail addresses, the Facebook account link) is
django-allauth's; this is what the product knows about a person.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
        verbose_name=_("user"),
    )
    display_name = models.CharField(_("display name"), max_length=150)
    # Facebook's picture URL when the person logged in with it (a CDN URL that Facebook
    # rotates; refreshed at each Facebook login).
    avatar_url = models.URLField(_("avatar URL"), max_length=1000, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, blank=True
    )
    # App-scoped: Facebook gives the same person another id in another app.
    facebook_id = models.CharField(
        _("Facebook id"), max_length=64, null=True, blank=True, unique=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
        constraints = [
            # "" would collide with itself under the unique index: no id is NULL.
            models.CheckConstraint(
                condition=~models.Q(facebook_id=""), name="profile_facebook_id_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


class FriendGroup(models.Model):
    """Friends who plan trips together. A group plans one or more trips (``booking.Trip``);
    its members, roles, privacy and approval rule are shared by all of them."""

    class Privacy(models.TextChoices):
        PRIVATE = "private", _("Private: by invitation only")
        LINK = "link", _("Link: anyone with the link")
        PUBLIC = "public", _("Public: listed on the event's page")

    name = models.CharField(_("name"), max_length=120)
    privacy = models.CharField(
        _("privacy"), max_length=10, choices=Privacy.choices, default=Privacy.PRIVATE
    )
    requires_approval = models.BooleanField(
        _("the organiser approves who joins"),
        default=False,
    )
    max_members = models.PositiveSmallIntegerField(_("maximum number of travellers"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("friend group")
        verbose_name_plural = _("friend groups")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_members__gte=1), name="friend_group_max_members_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        """Listed on its event's page, where anyone (who left it too) may join it."""
        return self.privacy == self.Privacy.PUBLIC


class Membership(models.Model):
    """One person in one friend group: one row per pair, whose status moves as they join,
    leave, are removed or come back."""

    class Role(models.TextChoices):
        ORGANISER = "organiser", _("Organiser")
        MEMBER = "member", _("Member")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Member")
        PENDING = "pending", _("Waiting for approval")
        LEFT = "left", _("Left")
        REMOVED = "removed", _("Removed")

    group = models.ForeignKey(
        FriendGroup, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("group")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    # The member chose to show their discount card, age and price to the other members.
    shares_details = models.BooleanField(_("shows card, age and price to the group"), default=False)
    invitation = models.ForeignKey(
        "Invitation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("joined through"),
    )
    joined_at = models.DateTimeField(_("joined at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["joined_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="one_membership_per_user"),
            models.UniqueConstraint(
                fields=["group"],
                condition=models.Q(role="organiser", status="active"),
                name="one_active_organiser_per_group",
            ),
            models.CheckConstraint(
                condition=~models.Q(role="organiser") | models.Q(status="active"),
                name="organiser_is_active",
            ),
        ]
        indexes = [models.Index(fields=["user", "status"], name="membership_user_status")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.group_id} ({self.role}, {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_organiser(self) -> bool:
        return self.is_active and self.role == self.Role.ORGANISER


class Invitation(models.Model):
    """A way into a group. The secret token is shown once, in the link ``/join/<token>``;
    only its SHA-256 is stored, so a leaked database holds no usable link."""

    class Channel(models.TextChoices):
        LINK = "link", _("Link")
        MESSENGER = "messenger", _("Messenger")
        WHATSAPP = "whatsapp", _("WhatsApp")
        EMAIL = "email", _("E-mail")
        FACEBOOK_FRIEND = "facebook_friend", _("Facebook friend")

    group = models.ForeignKey(
        FriendGroup, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("group")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    channel = models.CharField(
        _("channel"), max_length=20, choices=Channel.choices, default=Channel.LINK
    )
    # A personal invitation names who it is for (a Facebook friend who uses the app, an
    # e-mail address); a shared link names nobody.
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations_received",
        verbose_name=_("invitee"),
    )
    invitee_email = models.EmailField(_("invitee e-mail"), blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    max_uses = models.PositiveIntegerField(_("maximum uses"), null=True, blank=True)
    uses = models.PositiveIntegerField(_("uses"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True)
                | models.Q(uses__lte=models.F("max_uses")),
                name="invitation_uses_within_max",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.group_id}"


class DataDeletionRequest(models.Model):
    """A request to delete someone's Facebook data: from Facebook's data deletion callback
    or from the person's account page. The confirmation code is what Facebook shows the
    person; the status page ``/facebook/deletion/<code>/`` reads this row."""

    class Source(models.TextChoices):
        FACEBOOK_CALLBACK = "facebook", _("Facebook data deletion callback")
        ACCOUNT_PAGE = "account", _("Account page")

    class Status(models.TextChoices):
        DONE = "done", _("Done")
        NOTHING_FOUND = "nothing_found", _("No data found")

    confirmation_code = models.CharField(_("confirmation code"), max_length=32, unique=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("data deletion request")
        verbose_name_plural = _("data deletion requests")

    def __str__(self) -> str:
        return self.confirmation_code
