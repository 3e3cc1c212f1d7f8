"""Forms of the trip pages. They check the shape of the input only (a date is a date, a
number a number); the rules (dates in range, two different stations, group size) are the
services', whose domain errors the views put back next to the fields with
``form_add_domain_error``."""

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.errors import DomainError

PRIVACY_CHOICES = [
    ("private", _("Private: by invitation only")),
    ("link", _("Anyone with the link")),
    ("public", _("Listed on the event's page")),
]
# One line under each privacy choice, saying who can find and join the trip.
PRIVACY_HELP = {
    "private": _("Only the people you invite see the trip and can join it."),
    "link": _("Whoever has an invitation link can join; nobody else sees the trip."),
    "public": _("Anyone can find the trip on the event's page and ask to join."),
}

ONE_WAY = "one_way"
RETURN = "return"


class PrivacyChoice:
    """A privacy radio choice with its explanation, for the template."""

    def __init__(self, value: str, label: str, help_text: str, checked: bool):
        self.value = value
        self.label = label
        self.help_text = help_text
        self.checked = checked


def privacy_choices(current: str) -> list[PrivacyChoice]:
    return [
        PrivacyChoice(value, label, PRIVACY_HELP[value], value == current)
        for value, label in PRIVACY_CHOICES
    ]


def form_add_domain_error(form: forms.Form, exc: DomainError, *, aliases=None) -> None:
    """Put a service's refusal on the form: each field message next to its field (``aliases``
    renames the service's field names to the form's), the rest at the top."""
    aliases = aliases or {}
    placed = set()
    for name, messages in exc.fields.items():
        name = aliases.get(name, name)
        for message in messages:
            if name in form.fields:
                form.add_error(name, str(message))
                placed.add(str(message))
    if str(exc.message) not in placed:
        form.add_error(None, str(exc.message))


def _date_input():
    # ISO in and out, as <input type="date"> speaks whatever the page's language.
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _style_controls(form: forms.Form) -> None:
    for field in form.fields.values():
        if not isinstance(field.widget, (forms.RadioSelect, forms.CheckboxInput)):
            field.widget.attrs.setdefault("class", "field__control")


class TripCreateForm(forms.Form):
    origin = forms.ChoiceField(label=_("From"))
    destination = forms.ChoiceField(label=_("To"), required=False)
    event = forms.ChoiceField(
        label=_("Or to an event"),
        required=False,
        help_text=_("We take you to the station nearest to it."),
    )
    outbound_from = forms.DateField(label=_("Leave on"), widget=_date_input())
    outbound_to = forms.DateField(
        label=_("Or any day up to"),
        required=False,
        widget=_date_input(),
        help_text=_("Optional: the group chooses the train later."),
    )
    trip_type = forms.ChoiceField(
        label=_("Journey"),
        choices=[(ONE_WAY, _("One way")), (RETURN, pgettext_lazy("journey", "Return"))],
        initial=ONE_WAY,
        widget=forms.RadioSelect,
    )
    return_from = forms.DateField(label=_("Come back on"), required=False, widget=_date_input())
    return_to = forms.DateField(label=_("Or any day up to"), required=False, widget=_date_input())
    title = forms.CharField(
        label=_("Name of the trip"),
        required=False,
        max_length=120,
        help_text=_("Optional: we name it after the route or the event."),
    )
    max_members = forms.IntegerField(label=_("Travellers at most"), min_value=1)
    privacy = forms.ChoiceField(label=_("Who can join"), choices=PRIVACY_CHOICES, initial="private")
    requires_approval = forms.BooleanField(label=_("I approve who joins"), required=False)

    def __init__(self, *args, stations=(), events=(), **kwargs):
        super().__init__(*args, **kwargs)
        stations = [(station.code, station.name) for station in stations]
        self.fields["origin"].choices = [("", _("Departure station")), *stations]
        self.fields["destination"].choices = [("", _("Arrival station")), *stations]
        self.fields["event"].choices = [("", _("No event")), *[(e.slug, e.name) for e in events]]
        self.fields["max_members"].initial = settings.SIDEBYSIDE["GROUP_MAX_MEMBERS_DEFAULT"]
        self.fields["max_members"].widget.attrs.update(
            min=2, max=settings.SIDEBYSIDE["GROUP_MAX_MEMBERS_LIMIT"]
        )
        today = timezone.localdate()
        self.fields["outbound_from"].initial = today
        for name in ("outbound_from", "outbound_to", "return_from", "return_to"):
            self.fields[name].widget.attrs["min"] = today.isoformat()
        _style_controls(self)

    def clean(self):
        data = super().clean()
        if data.get("trip_type") == RETURN:
            if not data.get("return_from") and "return_from" not in self.errors:
                self.add_error("return_from", _("Choose the day you come back."))
        else:
            data["return_from"] = data["return_to"] = None
        return data

    def service_arguments(self) -> dict:
        """The keyword arguments of ``booking.services.trip_create``."""
        data = self.cleaned_data
        return {
            "origin_code": data["origin"],
            "destination_code": data["destination"] or None,
            "event_slug": data["event"] or None,
            "outbound_from": data["outbound_from"],
            "outbound_to": data["outbound_to"],
            "return_from": data["return_from"],
            "return_to": data["return_to"],
            "title": data["title"],
            "privacy": data["privacy"],
            "requires_approval": data["requires_approval"],
            "max_members": data["max_members"],
        }


class GroupSettingsForm(forms.Form):
    privacy = forms.ChoiceField(label=_("Who can join"), choices=PRIVACY_CHOICES)
    requires_approval = forms.BooleanField(label=_("I approve who joins"), required=False)
    max_members = forms.IntegerField(label=_("Travellers at most"), min_value=1)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "settings-%s")  # the trip page holds other forms
        super().__init__(*args, **kwargs)
        self.fields["max_members"].widget.attrs.update(
            min=2, max=settings.SIDEBYSIDE["GROUP_MAX_MEMBERS_LIMIT"]
        )
        _style_controls(self)

    def service_arguments(self) -> dict:
        """The keyword arguments of ``groups.services.group_update``."""
        data = self.cleaned_data
        return {
            "privacy": data["privacy"],
            "requires_approval": data["requires_approval"],
            "max_members": data["max_members"],
        }
