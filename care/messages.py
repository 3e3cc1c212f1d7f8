"""Care's e-mail (registered with the outbox in ``care.apps``): the care team answered,
to each of the case's people who did not have the conversation open."""

from django.urls import reverse

from care.models import CaseMessage
from care.selectors import person_name
from core.site import site_url
from groups.selectors import user_display_name
from notices.emails import email_render


def staff_answered(message):
    answer = (
        CaseMessage.objects.select_related("case__trip", "author__profile")
        .filter(pk=message.object_id)
        .first()
    )
    if answer is None:
        return None
    site = site_url()
    return email_render(
        "care/email/staff_answered",
        {
            "name": user_display_name(user=message.recipient),
            "agent": person_name(answer.author),
            "trip_title": answer.case.trip.title,
            "body": answer.body,
            "case_url": site + reverse("care_case", args=[answer.case_id]),
        },
    )
