"""The one way in for care's writes by a person, whichever door (the pages' forms, the
conversation's websocket): the person's rate limit, one input serializer per command,
then the service. The same bad input gets the same refusal everywhere (``invalid`` with
``fields``, ``empty_message``, ``rate_limited``)."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from care import services
from care.models import MESSAGE_MAX_CHARS, Case, CaseMessage
from core.api_errors import invalid_input
from groups.ratelimits import user_rate_limit


class TextField(serializers.CharField):
    """Text only: DRF's ``CharField`` would take the number 42 as the message "42"."""

    default_error_messages = {"not_text": _("A message is text.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class MessageSerializer(serializers.Serializer):
    # Not trimmed here: a blank message is the service's ``empty_message``, whatever door.
    body = TextField(
        max_length=MESSAGE_MAX_CHARS,
        allow_blank=True,
        trim_whitespace=False,
        error_messages={
            "max_length": _("A message has at most %(max)s characters.")
            % {"max": MESSAGE_MAX_CHARS}
        },
    )


class CaseOpenSerializer(MessageSerializer):
    visibility = serializers.ChoiceField(
        choices=Case.Visibility.choices, default=Case.Visibility.ME
    )


def rate_limit(*, user, action: str) -> None:
    """Count one ``action`` (``open``, ``post``) of ``user``, shared by every process
    through the cache; past the limit ``RateLimited`` (its ``retry_after`` the seconds
    left)."""
    setting = "RATE_CARE_OPEN" if action == "open" else "RATE_CARE_MESSAGE"
    user_rate_limit(user=user, group=f"sidebyside.care.{action}", rate=settings.SIDEBYSIDE[setting])


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise invalid_input(serializer.errors)
    return serializer.validated_data


def case_open_run(*, user, trip_id: int, data) -> Case:
    rate_limit(user=user, action="open")
    valid = _valid(CaseOpenSerializer, data)
    return services.case_open(
        trip_id=trip_id, user=user, body=valid["body"], visibility=valid["visibility"]
    )


def message_post_run(*, user, case_id: int, data, as_staff: bool) -> CaseMessage:
    # The care team answers many people: its pace is not a traveller's.
    if not as_staff:
        rate_limit(user=user, action="post")
    valid = _valid(MessageSerializer, data)
    return services.message_post(case_id=case_id, user=user, body=valid["body"], as_staff=as_staff)
