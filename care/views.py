"""Care's pages (docs/care.md), thin doors onto ``care.commands`` and ``care.selectors``:

- ``/help/trips/<trip>/``: "Get help" for one trip: the traveller's conversations about
  it, and a form to open one (for me, or for the whole group);
- ``/help/cases/<case>/``: the conversation, live (``care.consumers.CaseConsumer``); its
  form posts without JavaScript too;
- ``/care/inbox/`` and ``/care/inbox/<case>/``: the care team's inbox, and one case with
  the trip, its tickets, payments and disruptions beside the conversation.

A case that is not the caller's is a 404, as a case that does not exist.
"""

import contextlib

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from booking.plan_selectors import trip_for_member
from care import commands, selectors, services
from care.errors import CaseResolved
from care.models import MESSAGE_MAX_CHARS, Case
from core.errors import DomainError, NotFound


def _or_404(func, **kwargs):
    """A refusal to read as the page's answer: 404 for what is not the caller's (as for
    what does not exist), 403 for someone waiting to be let into the group."""
    try:
        return func(**kwargs)
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc
    except DomainError as exc:
        if exc.status == 403:
            raise PermissionDenied(str(exc.message)) from exc
        raise


def _conversation_context(case: Case, *, as_staff: bool) -> dict:
    return {
        "case": case,
        "conversation": selectors.case_messages(case_id=case.pk),
        "as_staff": as_staff,
        "max_chars": MESSAGE_MAX_CHARS,
        "states": Case.State.choices,
    }


@login_required
@require_http_methods(["GET", "POST"])
def help_start(request, trip_id: int):
    trip = _or_404(trip_for_member, user=request.user, trip_id=trip_id)
    error, data = None, {}
    if request.method == "POST":
        data = {
            "body": request.POST.get("body", ""),
            "visibility": request.POST.get("visibility", Case.Visibility.ME),
        }
        try:
            case = commands.case_open_run(user=request.user, trip_id=trip.pk, data=data)
        except DomainError as exc:
            error = exc
        else:
            return redirect("care_case", case.pk)
    return render(
        request,
        "care/help.html",
        {
            "trip": trip,
            "cases": selectors.trip_cases_for_person(user=request.user, trip=trip),
            "usual_minutes": selectors.usual_response_minutes(),
            "visibilities": Case.Visibility.choices,
            "data": data,
            "error": error,
            "max_chars": MESSAGE_MAX_CHARS,
        },
        status=400 if error else 200,
    )


def _post(request, case: Case, *, as_staff: bool) -> DomainError | None:
    """The form door of a message; the refusal (if any) for the page."""
    try:
        commands.message_post_run(
            user=request.user,
            case_id=case.pk,
            data={"body": request.POST.get("body", "")},
            as_staff=as_staff,
        )
    except DomainError as exc:
        return exc
    return None


@login_required
@require_http_methods(["GET", "POST"])
def case_page(request, case_id: int):
    case = _or_404(selectors.case_for_person, user=request.user, case_id=case_id)
    error = None
    if request.method == "POST":
        error = _post(request, case, as_staff=False)
        if error is None:
            return redirect("care_case", case.pk)
    context = _conversation_context(case, as_staff=False)
    context.update(
        trip=case.trip,
        usual_minutes=selectors.usual_response_minutes(),
        error=error,
        draft=request.POST.get("body", "") if error else "",
    )
    return render(request, "care/case.html", context, status=400 if error else 200)


@login_required
def inbox_page(request):
    _or_404(selectors.staff_check, user=request.user)
    return render(
        request,
        "care/inbox.html",
        {
            **selectors.inbox(),
            "usual_minutes": selectors.usual_response_minutes(),
            "states": Case.State.choices,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def inbox_case(request, case_id: int):
    case = _or_404(selectors.case_for_staff, user=request.user, case_id=case_id)
    error = None
    if request.method == "POST":
        error = _post(request, case, as_staff=True)
        if error is None:
            return redirect("care_inbox_case", case.pk)
    context = _conversation_context(case, as_staff=True)
    context.update(
        selectors.case_context(case=case),
        error=error,
        draft=request.POST.get("body", "") if error else "",
    )
    return render(request, "care/inbox_case.html", context, status=400 if error else 200)


@login_required
@require_POST
def inbox_assign(request, case_id: int):
    _or_404(services.case_assign, case_id=case_id, user=request.user)
    return redirect("care_inbox_case", case_id)


@login_required
@require_POST
def inbox_resolve(request, case_id: int):
    with contextlib.suppress(CaseResolved):  # already resolved: the page shows it so
        _or_404(services.case_resolve, case_id=case_id, user=request.user)
    return redirect("care_inbox_case", case_id)
