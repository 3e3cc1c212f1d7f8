"""The e-mail of ``groups`` (registered with the outbox in ``groups.apps``): "invited",
to an address an organiser invited. It names who invites, to which group, and carries
the link that joins; it is not sent any more once the invitation cannot be used
(withdrawn, expired, used)."""

from django.urls import reverse
from django.utils import formats, timezone

from core.errors import DomainError
from core.site import site_url
from groups.models import Invitation
from groups.selectors import email_invitation_token_find, invitation_validate, user_display_name
from notices.emails import email_render


def invited(message):
    invitation = (
        Invitation.objects.filter(pk=message.object_id)
        .select_related("group", "created_by")
        .first()
    )
    if invitation is None or not invitation.invitee_email:
        return None  # gone, or its address forgotten (the person deleted their account)
    try:
        invitation_validate(invitation)
    except DomainError:
        return None
    token = email_invitation_token_find(invitation=invitation)
    if token is None:
        return None  # the secret key changed beyond its fallbacks: the link would not work
    inviter = invitation.created_by
    site = site_url()
    return email_render(
        "groups/email/invited",
        {
            "inviter": user_display_name(user=inviter) if inviter else "",
            "group_name": invitation.group.name,
            "join_url": site + reverse("join", args=[token]),
            "expires": formats.date_format(
                timezone.localtime(invitation.expires_at), "DATE_FORMAT"
            ),
            "address": invitation.invitee_email,
        },
    )
