"""The doors of ``notices``: the one-click unsubscribe, and the demo's local mailbox.

The one-click unsubscribe (RFC 8058): the link in a non-essential e-mail's
``List-Unsubscribe`` header, and in its footer.

GET shows a page with one button, and changes nothing: mail scanners open links. POST
(the button, or the mail provider's ``List-Unsubscribe=One-Click``) turns the person's
non-essential e-mails off. The signed token is the authority, so the POST needs no CSRF
token (the provider's POST has none) and no login."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from notices import mailbox, selectors, services


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    user_id = selectors.unsubscribe_token_read(token)
    if user_id is None:
        raise Http404()
    done = request.method == "POST"
    if done:
        services.preference_set(user_id=user_id, email_updates=False)
    return render(request, "notices/unsubscribe.html", {"done": done})


def _mailbox_open() -> None:
    # Only in the local demo, where the e-mails never leave the machine.
    if not (settings.DEBUG and settings.MAIL_SANDBOX):
        raise Http404()


@never_cache
@require_http_methods(["GET"])
def local_mailbox(request):
    _mailbox_open()
    return render(request, "notices/mailbox.html", {"received": mailbox.received_list()})


@never_cache
@require_http_methods(["GET"])
def local_mailbox_message(request, key: str):
    _mailbox_open()
    received = mailbox.received_get(key)
    if received is None:
        raise Http404()
    return render(request, "notices/mailbox_message.html", {"message": received})
