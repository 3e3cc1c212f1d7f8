"""Reads of care, each a fixed number of queries whatever the size of the case, the
group or the inbox. Access is decided here, once, for every door: a case is read by
its people (the opener; the trip's group too when the opener shared it) and by the care
team (permission ``care.answer_case``); anyone else gets ``CaseNotFound``."""

import datetime as dt
import math
import statistics

from django.apps import apps
from django.conf import settings
from django.db.models import Case as When_
from django.db.models import IntegerField, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from booking.models import Ticket, Trip
from care.errors import CaseNotFound, NotCareStaff
from care.models import Case, CaseMessage, CaseWatcher
from groups.models import Membership
from payments.models import Checkout, Payment, Refund

STAFF_PERMISSION = "care.answer_case"
RESPONSE_WINDOW = dt.timedelta(days=7)


def is_care_staff(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_perm(STAFF_PERMISSION))


def staff_check(user) -> None:
    """The inbox and its sockets are the care team's: anyone else gets a plain 404."""
    if not is_care_staff(user):
        raise NotCareStaff()


def person_name(user) -> str:
    """How a message's author is named to the others: the profile's name (loaded with
    ``select_related("…__profile")``), never an e-mail address."""
    if user is None:
        return ""
    profile = getattr(user, "profile", None)
    if profile is not None and profile.display_name:
        return profile.display_name
    return user.first_name or user.get_full_name() or ""


def _is_case_person(case: Case, user) -> bool:
    if user is None or not user.is_authenticated:
        return False
    if case.opened_by_id == user.pk:
        return True
    return (
        case.visibility == Case.Visibility.GROUP
        and Membership.objects.filter(
            group_id=case.trip.group_id, user=user, status=Membership.Status.ACTIVE
        ).exists()
    )


def case_for_person(*, user, case_id: int) -> Case:
    """The case if ``user`` is one of its people (two queries at most)."""
    case = Case.objects.select_related("trip").filter(pk=case_id).first()
    if case is None or not _is_case_person(case, user):
        raise CaseNotFound()
    return case


def case_for_staff(*, user, case_id: int) -> Case:
    staff_check(user)
    case = (
        Case.objects.select_related("trip", "opened_by__profile", "assigned_to__profile")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise CaseNotFound()
    return case


def case_people_ids(case: Case) -> list[int]:
    """Who the case is for: its opener, or the group's travellers when it is shared."""
    ids = {case.opened_by_id} if case.opened_by_id else set()
    if case.visibility == Case.Visibility.GROUP:
        ids |= set(
            Membership.objects.filter(
                group_id=case.trip.group_id, status=Membership.Status.ACTIVE
            ).values_list("user_id", flat=True)
        )
    return sorted(ids)


def message_dict(message: CaseMessage) -> dict:
    return {
        "id": message.pk,
        "by_staff": message.by_staff,
        "author_id": message.author_id,
        "author": person_name(message.author),
        "body": message.body,
        "at": message.created_at.isoformat(),
    }


def case_dict(case: Case) -> dict:
    return {
        "id": case.pk,
        "trip_id": case.trip_id,
        # The state's name, not its label: each page shows it in its reader's language.
        "state": case.state,
        "visibility": case.visibility,
        "assigned_to": person_name(case.assigned_to) if case.assigned_to_id else None,
        "first_response_seconds": case.first_response_seconds,
    }


def case_messages(*, case_id: int) -> list[CaseMessage]:
    """The conversation, oldest first, each message with its ``author_name`` (one
    query)."""
    messages = list(
        CaseMessage.objects.filter(case_id=case_id)
        .select_related("author__profile")
        .order_by("created_at", "pk")
    )
    for message in messages:
        message.author_name = person_name(message.author)
    return messages


def trip_cases_for_person(*, user, trip: Trip) -> list[Case]:
    """The cases about ``trip`` that ``user`` may read (one query)."""
    return list(
        Case.objects.filter(trip=trip)
        .filter(Q(opened_by=user) | Q(visibility=Case.Visibility.GROUP))
        .order_by("-created_at")
    )


def watching_user_ids(*, case_id: int, now: dt.datetime | None = None) -> set[int]:
    """Who has the conversation open right now (their page's heartbeat is recent)."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=settings.SIDEBYSIDE["PRESENCE_TIMEOUT_SECONDS"])
    return set(
        CaseWatcher.objects.filter(case_id=case_id, seen_at__gte=since).values_list(
            "user_id", flat=True
        )
    )


def usual_response_minutes(*, now: dt.datetime | None = None) -> int | None:
    """ "Usually answers within N minutes": the median time to a first answer of the
    cases first answered in the last 7 days, rounded up to a whole minute (at least 1);
    None when there were none. One query."""
    now = now or timezone.now()
    rows = Case.objects.filter(
        first_response_at__gte=now - RESPONSE_WINDOW, first_response_at__lte=now
    ).values_list("created_at", "first_response_at")
    waits = [(answered - opened).total_seconds() for opened, answered in rows]
    if not waits:
        return None
    return max(1, math.ceil(statistics.median(waits) / 60))


def inbox(*, resolved_limit: int = 20) -> dict:
    """The care team's inbox: the cases waiting for an answer first (longest waiting at
    the top), then the answered ones, then the latest resolved. Two queries."""
    last_body = Subquery(
        CaseMessage.objects.filter(case=OuterRef("pk"))
        .order_by("-created_at", "-pk")
        .values("body")[:1]
    )
    base = Case.objects.select_related(
        "trip", "opened_by__profile", "assigned_to__profile"
    ).annotate(last_body=last_body)
    rank = When_(
        When(state=Case.State.OPEN, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    active = base.exclude(state=Case.State.RESOLVED).annotate(rank=rank)
    resolved = base.filter(state=Case.State.RESOLVED).order_by("-resolved_at")

    def row(case: Case) -> dict:
        return {
            **inbox_row(case, last_body=case.last_body or ""),
            "state_label": case.get_state_display(),
        }

    return {
        "active": [row(case) for case in active.order_by("rank", "last_message_at", "pk")],
        "resolved": [row(case) for case in resolved[:resolved_limit]],
    }


def inbox_row(case: Case, *, last_body: str = "") -> dict:
    """A case as a line of the inbox (the live frame of a new or changed case)."""
    return {
        **case_dict(case),
        "trip_title": case.trip.title,
        "opened_by": person_name(case.opened_by),
        "preview": last_body[:140],
        "at": case.last_message_at.isoformat(),
    }


def _disruptions(trip: Trip, departure_ids: list[int]) -> list:
    """The hook for issue 20's disruptions: once ``booking`` records them (a
    ``Disruption`` model with a ``departure``), the agent sees those of the trip's trains
    beside the case. Until then, nothing (and no query)."""
    try:
        model = apps.get_model("booking", "Disruption")
    except LookupError:
        return []
    if not departure_ids or "departure" not in {f.name for f in model._meta.get_fields()}:
        return []
    return list(model.objects.filter(departure_id__in=departure_ids).order_by("pk"))


def case_context(*, case: Case) -> dict:
    """What the agent sees beside the conversation: the trip and its legs, the group's
    travellers, the tickets, the checkouts with their payments and refunds, and the
    disruptions of its trains. A fixed number of queries."""
    trip = (
        Trip.objects.select_related("origin", "destination", "group")
        .prefetch_related("legs__departure__origin", "legs__departure__destination")
        .get(pk=case.trip_id)
    )
    members = list(
        Membership.objects.filter(group_id=trip.group_id)
        .select_related("user__profile")
        .order_by("joined_at", "pk")
    )
    tickets = list(
        Ticket.objects.filter(booking__trip_id=trip.pk)
        .select_related(
            "traveller__profile",
            "fare_class",
            "allocation__seat__coach",
            "allocation__departure",
        )
        .order_by("leg__direction", "traveller_id")
    )
    checkouts = list(Checkout.objects.filter(trip_id=trip.pk).order_by("-created_at"))
    payments = list(
        Payment.objects.filter(checkout__trip_id=trip.pk)
        .select_related("payer__profile")
        .order_by("created_at", "pk")
    )
    refunds = list(
        Refund.objects.filter(payment__checkout__trip_id=trip.pk)
        .select_related("ticket")
        .order_by("created_at", "pk")
    )
    departure_ids = [leg.departure_id for leg in trip.legs.all() if leg.departure_id]
    return {
        "trip": trip,
        "legs": list(trip.legs.all()),
        "members": [
            {"name": person_name(m.user), "role": m.get_role_display(), "status": m.status}
            for m in members
        ],
        "tickets": tickets,
        "checkouts": checkouts,
        "payments": [{"payment": p, "payer": person_name(p.payer)} for p in payments],
        "refunds": refunds,
        "disruptions": _disruptions(trip, departure_ids),
    }


def person_export(user) -> list[dict]:
    """ "Download my data": the person's conversations with the care team, the messages
    they wrote and the team's answers to them (the others' messages in a shared case are
    theirs, not the person's). Two queries."""
    cases = list(Case.objects.filter(opened_by=user).select_related("trip").order_by("pk"))
    messages = CaseMessage.objects.filter(case__in=cases).order_by("created_at", "pk")
    by_case: dict[int, list[dict]] = {case.pk: [] for case in cases}
    for message in messages:
        if message.by_staff or message.author_id == user.pk:
            by_case[message.case_id].append(
                {
                    "from": "care team" if message.by_staff else "me",
                    "body": message.body,
                    "at": message.created_at.isoformat(),
                }
            )
    return [
        {
            "trip": case.trip.title,
            "visibility": case.visibility,
            "state": case.state,
            "opened_at": case.created_at.isoformat(),
            "messages": by_case[case.pk],
        }
        for case in cases
    ]
