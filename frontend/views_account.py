"""The account page: the person's name and language, their referral credit, "Download my
data" and "Delete my account". The writes are ``groups.account_services``'; these views
collect the input and show the result."""

import json

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import DomainError
from groups import account_services, exports
from groups.services import DISPLAY_NAME_MAX_LENGTH
from notices import selectors as notices_selectors
from notices import services as notices_services
from payments import selectors as payment_selectors
from referrals.selectors import reward_balance_get

DELETED_CODE_SESSION_KEY = "account_deleted_code"


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        label=gettext_lazy("Your name"),
        help_text=gettext_lazy("As your friends know you."),
        max_length=DISPLAY_NAME_MAX_LENGTH,
    )
    preferred_language = forms.ChoiceField(
        label=gettext_lazy("Language"), choices=settings.LANGUAGES
    )


class DeleteForm(forms.Form):
    confirm = forms.BooleanField(
        label=gettext_lazy("I understand that my account is deleted for good."),
        error_messages={"required": gettext_lazy("Tick the box to confirm.")},
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def account(request):
    summary = exports.account_summary(user=request.user)
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                profile = account_services.profile_update(
                    user=request.user,
                    display_name=form.cleaned_data["display_name"],
                    preferred_language=form.cleaned_data["preferred_language"],
                )
            except DomainError as error:
                for field, errors in error.fields.items():
                    for message in errors:
                        form.add_error(field if field in form.fields else None, message)
                if not error.fields:
                    form.add_error(None, str(error.message))
            else:
                translation.activate(profile.preferred_language)
                messages.success(request, _("Your details are saved."))
                response = redirect("my_account")
                # The pages follow the language chosen here (a first-party cookie, as the
                # header's language switch sets).
                response.set_cookie(
                    settings.LANGUAGE_COOKIE_NAME,
                    profile.preferred_language,
                    max_age=settings.LANGUAGE_COOKIE_AGE,
                    path=settings.LANGUAGE_COOKIE_PATH,
                    samesite=settings.LANGUAGE_COOKIE_SAMESITE or "Lax",
                    secure=settings.LANGUAGE_COOKIE_SECURE,
                    httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                )
                return response
        status = 400
    else:
        form = ProfileForm(
            initial={
                "display_name": summary.display_name,
                "preferred_language": summary.preferred_language or translation.get_language(),
            }
        )
        status = 200
    return render(
        request,
        "frontend/account/account.html",
        {
            "form": form,
            "summary": summary,
            "rewards": reward_balance_get(user=request.user),
            "incentive": settings.REFERRALS["INCENTIVE"],
            "email_updates": notices_selectors.email_updates_wanted(user_id=request.user.pk),
        },
        status=status,
    )


@login_required
@require_http_methods(["POST"])
def account_messages(request):
    """The person's choice about non-essential e-mails (the essential ones always go)."""
    wanted = request.POST.get("email_updates") == "on"
    notices_services.preference_set(user_id=request.user.pk, email_updates=wanted)
    messages.success(request, _("Your e-mail choices are saved."))
    return redirect("my_account")


@login_required
@never_cache
@require_GET
def account_data(request):
    """Everything we hold about the person, as a JSON file to keep."""
    data = exports.account_export(user=request.user)
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False, default=str),
        content_type="application/json; charset=utf-8",
    )
    filename = f"sidebyside-data-{timezone.localdate().isoformat()}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def account_delete(request):
    if request.method == "POST":
        form = DeleteForm(request.POST)
        refusal = None
        if form.is_valid():
            try:
                deletion = account_services.account_delete(user=request.user)
            except DomainError as exc:
                refusal = exc
        if form.is_valid() and refusal is None:
            logout(request)
            # The new, anonymous session carries the code to the goodbye page.
            request.session[DELETED_CODE_SESSION_KEY] = deletion.confirmation_code
            return redirect("my_account_deleted")
        status = refusal.status if refusal is not None else 400
    else:
        form = DeleteForm()
        status = 200
        refusal = account_services.account_delete_check(user=request.user)
    # The tickets still to use are cancelled with the account: the page says so first.
    quotes = payment_selectors.account_delete_quotes(user=request.user)
    context = {
        "form": form,
        "quotes": quotes,
        "refusal": refusal,
        "kept": exports.kept_on_deletion(),  # what each app keeps, anonymised, and why
    }
    return render(request, "frontend/account/delete.html", context, status=status)


@never_cache
@require_GET
def account_deleted(request):
    code = request.session.get(DELETED_CODE_SESSION_KEY)
    if not code:
        return redirect("home")
    return render(request, "frontend/account/deleted.html", {"confirmation_code": code})
