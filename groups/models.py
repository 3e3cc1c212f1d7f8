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
