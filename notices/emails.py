"""E-mails of the outbox: the kinds' templates rendered into ``kinds.Email``, then built
into a MIME message (plain text and HTML, inline images, attachments) with the site's
sender, reply-to and a Message-ID that is the same at every attempt."""

import email.message

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from core.site import site_url
from notices import selectors
from notices.kinds import Email
from notices.models import Message

# The <style> block is kept beside the inlined styles: media queries (small screens,
# dark mode) cannot be inlined, and the clients that honour them read it there.
_inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


def email_render(template: str, context: dict, **extra) -> Email:
    """``<template>_subject.txt``, ``<template>.txt`` and ``<template>.html`` (which
    extends ``notices/email/base.html``) rendered with ``context``, the HTML's CSS
    inlined. ``extra``: the ``Email``'s attachments and inline images."""
    context = {"site_url": site_url(), **context}
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    text = render_to_string(f"{template}.txt", context)
    html = _inliner.inline(render_to_string(f"{template}.html", {**context, "subject": subject}))
    return Email(subject=subject, text=text, html=html, **extra)


def _domain() -> str:
    sender = settings.DEFAULT_FROM_EMAIL
    return sender.rsplit("@", 1)[-1].strip(" >") or "localhost"


def unsubscribe_url(user_id: int) -> str:
    """The person's one-click unsubscribe link (``notices.views.unsubscribe``)."""
    token = selectors.unsubscribe_token(user_id=user_id)
    path = reverse("messages_unsubscribe", args=[token])
    return site_url() + path


def email_build(
    message: Message, content: Email, *, essential: bool = True
) -> EmailMultiAlternatives:
    reply_to = settings.SIDEBYSIDE["EMAIL_REPLY_TO"]
    headers = {"Message-ID": f"<message-{message.pk}@{_domain()}>"}
    if not essential and message.recipient_id:
        # RFC 8058: the mail provider's "unsubscribe" button POSTs to this link. (An
        # address without account is written to once, by the person who invited it.)
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(message.recipient_id)}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail = EmailMultiAlternatives(
        subject=content.subject,
        body=content.text,
        to=[message.email_address],
        reply_to=[reply_to] if reply_to else None,
        headers=headers,
    )
    if content.html:
        mail.attach_alternative(content.html, "text/html")
    for content_id, data, mimetype in content.inline_images:
        maintype, subtype = mimetype.split("/", 1)
        part = email.message.MIMEPart()
        part.set_content(
            data, maintype=maintype, subtype=subtype, disposition="inline", cid=f"<{content_id}>"
        )
        mail.attach(part)
    for filename, data, mimetype in content.attachments:
        mail.attach(filename, data, mimetype)
    return mail
