"""Writes of care: open a case, post a message (a traveller's or the care team's),
assign, resolve. Each in one transaction that locks the case row (care locks nothing
else: it reads the trip, never writes it), records its times, queues its e-mails in the
same transaction (the outbox) and broadcasts after commit (``care.live``)."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from booking.plan_selectors import trip_for_member
from care import live, selectors
from care.errors import CaseNotFound, CaseResolved, EmptyMessage
from care.models import Case, CaseMessage, CaseWatcher
from core.locking import rows_lock
from notices.services import message_queue

ANSWER_KIND = "care.staff_answered"


def _body_clean(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise EmptyMessage()
    return body


def _locked(case_id: int) -> Case:
    found = rows_lock(Case.objects.filter(pk=case_id).select_related("trip"))
    if not found:
        raise CaseNotFound()
    return found[0]


def _broadcast(case: Case, message: CaseMessage | None, *, opened: bool = False) -> None:
    """The conversation's sockets get the message and the case's new state; the inbox
    gets the case as a line (a new one, or a change)."""
    case_frame = selectors.case_dict(case)
    if message is not None:
        live.after_commit(
            live.case_group(case.pk),
            {
                "type": "message",
                "case": case_frame,
                "message": selectors.message_dict(message),
            },
        )
    else:
        live.after_commit(live.case_group(case.pk), {"type": "case", "case": case_frame})
    last_body = message.body if message is not None else ""
    live.after_commit(
        live.STAFF_GROUP,
        {
            "type": "case_opened" if opened else "case_changed",
            "case": selectors.inbox_row(case, last_body=last_body),
        },
    )


def case_open(*, trip_id: int, user, body: str, visibility: str) -> Case:
    """A traveller of the trip asks the care team for help, for themself or for the
    whole group. Strangers to the trip get ``TripNotFound``, as everywhere."""
    body = _body_clean(body)
    trip = trip_for_member(user=user, trip_id=trip_id)
    with transaction.atomic():
        now = timezone.now()
        case = Case.objects.create(
            trip=trip,
            opened_by=user,
            visibility=visibility,
            state=Case.State.OPEN,
            last_message_at=now,
        )
        message = CaseMessage.objects.create(case=case, author=user, body=body)
        # The author's name goes with the frames (select_related would re-read it).
        message.author = user
        _broadcast(case, message, opened=True)
    return case


def message_post(*, case_id: int, user, body: str, as_staff: bool) -> CaseMessage:
    """One message in the conversation. From the care team: the case is answered (its
    first answer's time recorded once) and assigned to the agent if nobody has it, and
    the case's people who do not have the page open get an e-mail. From a traveller: the
    case waits for the team again (a resolved one opens again)."""
    body = _body_clean(body)
    with transaction.atomic():
        if as_staff:
            selectors.staff_check(user)
            case = _locked(case_id)
        else:
            selectors.case_for_person(user=user, case_id=case_id)
            case = _locked(case_id)
        message = CaseMessage.objects.create(case=case, author=user, by_staff=as_staff, body=body)
        message.author = user
        now = message.created_at
        case.last_message_at = now
        if as_staff:
            case.state = Case.State.ANSWERED
            if case.first_response_at is None:
                case.first_response_at = now
            if case.assigned_to_id is None:
                case.assigned_to = user
            case.resolved_at = None
            away = set(selectors.case_people_ids(case)) - selectors.watching_user_ids(
                case_id=case.pk, now=now
            )
            away.discard(user.pk)
            if away:
                message_queue(
                    kind=ANSWER_KIND,
                    object_id=message.pk,
                    recipient_ids=away,
                    trip_id=case.trip_id,
                )
        else:
            case.state = Case.State.OPEN
            case.resolved_at = None
        case.save(
            update_fields=[
                "last_message_at",
                "state",
                "first_response_at",
                "assigned_to",
                "resolved_at",
            ]
        )
        _broadcast(case, message)
    return message


def case_assign(*, case_id: int, user, to=None) -> Case:
    """Give the case to an agent (``to``; the caller by default)."""
    selectors.staff_check(user)
    to = to or user
    selectors.staff_check(to)
    with transaction.atomic():
        case = _locked(case_id)
        if case.assigned_to_id != to.pk:
            case.assigned_to = to
            case.save(update_fields=["assigned_to"])
            _broadcast(case, None)
    return case


def case_resolve(*, case_id: int, user) -> Case:
    """The care team closes the case; its resolution time is recorded."""
    selectors.staff_check(user)
    with transaction.atomic():
        case = _locked(case_id)
        if case.state == Case.State.RESOLVED:
            raise CaseResolved()
        case.state = Case.State.RESOLVED
        case.resolved_at = timezone.now()
        case.save(update_fields=["state", "resolved_at"])
        _broadcast(case, None)
    return case


def person_forget(*, user_id: int) -> int:
    """The person deletes their account (``groups.signals.user_anonymising``, inside its
    transaction): the cases only they saw go, with every message; in the cases they
    shared with their group, their own messages go and the rest of the conversation
    stays with the group. Returns how many messages were deleted."""
    private = Case.objects.filter(opened_by_id=user_id, visibility=Case.Visibility.ME)
    deleted = CaseMessage.objects.filter(case__in=private).delete()[0]
    private.delete()
    deleted += CaseMessage.objects.filter(author_id=user_id, by_staff=False).delete()[0]
    CaseWatcher.objects.filter(user_id=user_id).delete()
    return deleted


def watcher_join(*, case_id: int, user, channel_name: str) -> None:
    CaseWatcher.objects.update_or_create(
        channel_name=channel_name,
        defaults={"case_id": case_id, "user": user, "seen_at": timezone.now()},
    )


def watcher_touch(*, channel_name: str) -> None:
    CaseWatcher.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


def watcher_leave(*, channel_name: str) -> None:
    CaseWatcher.objects.filter(channel_name=channel_name).delete()


def watchers_forget(*, before=None) -> int:
    """The worker's clean-up: rows of sockets that died without a goodbye."""
    before = before or timezone.now() - dt.timedelta(hours=1)
    deleted, _ = CaseWatcher.objects.filter(seen_at__lt=before).delete()
    return deleted
