"""The extra field of the e-mail signup: a name, so friends know who joined.

allauth builds its signup form on top of this one (``ACCOUNT_SIGNUP_FORM_CLASS``), which
is why it is a plain form and imports nothing of allauth.
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
        services.profile_create(
            user=user, display_name=self.cleaned_data["name"], language=get_language()
        )
