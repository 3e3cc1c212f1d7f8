"""The extra field of the e-mail signup: a name, so friends know who joined.

allauth builds its signup form on top of this one (``ACCOUNT_SIGNUP_FORM_CLASS``), which
is why it is a plain form and imports nothing of allauth.

Anyone may sign up with any address, so the name typed here is only a claim until the
address is confirmed: it waits in the signup's own session, and becomes the profile's
name when the code is typed in that same browser (``groups.identity.AccountAdapter``).
If the address's owner confirms it some other way (a login code, later), the stranger's
name is never theirs.
"""

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from groups import services


class SignupForm(forms.Form):
    name = forms.CharField(
        label=_("Your name"),
        max_length=services.DISPLAY_NAME_MAX_LENGTH,
        help_text=_("As your friends know you."),
        widget=forms.TextInput(attrs={"autocomplete": "name", "autofocus": True}),
    )

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(_("Please tell us your name."))
        return name

    def signup(self, request, user) -> None:
        request.session[SIGNUP_NAME_SESSION_KEY] = {
            "user_id": user.pk,
            "name": self.cleaned_data["name"],
            "language": get_language(),
        }


# The signup's name and language, in the session of the browser that signed up.
SIGNUP_NAME_SESSION_KEY = "signup_name"


def signup_profile_create(request, *, user):
    """The profile of ``user``, whose address was just confirmed in ``request``: with the
    name typed at signup if this is the browser that signed up, else without a name yet
    (``profile_create`` names them by their address; they choose a name on their account
    page). Idempotent, like ``profile_create``."""
    held = request.session.pop(SIGNUP_NAME_SESSION_KEY, None) if request is not None else None
    if not held or held.get("user_id") != user.pk:
        return services.profile_create(user=user, display_name="", language=get_language())
    return services.profile_create(
        user=user, display_name=held["name"], language=held.get("language")
    )
