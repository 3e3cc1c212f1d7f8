"""Care's services and selectors: who may read a case, what a message may be, the times
recorded, the "usually answers within" figure and the answer's e-mail."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from booking.errors import TripNotFound
from care import commands, selectors, services
from care.errors import CaseNotFound, CaseResolved, EmptyMessage, NotCareStaff
from care.models import MESSAGE_MAX_CHARS, Case, CaseMessage
from core.errors import InvalidInput
from groups.ratelimits import RateLimited
from notices.models import Message

pytestmark = pytest.mark.django_db


def _open(trip, user, visibility="me", body="Our train is cancelled, what now?"):
    return commands.case_open_run(
        user=user, trip_id=trip.pk, data={"body": body, "visibility": visibility}
    )


def _answer(case, agent, body="We are on it."):
    return commands.message_post_run(
        user=agent, case_id=case.pk, data={"body": body}, as_staff=True
    )


# --- Who reads a case -------------------------------------------------------------------


def test_a_private_case_is_read_by_its_opener_and_the_care_team_only(group_trip, agent):
    trip, organiser, friend, _other, stranger = group_trip
    case = _open(trip, friend, "me")
    assert selectors.case_for_person(user=friend, case_id=case.pk) == case
    assert selectors.case_for_staff(user=agent, case_id=case.pk) == case
    for outsider in (organiser, stranger):
        with pytest.raises(CaseNotFound):
            selectors.case_for_person(user=outsider, case_id=case.pk)
    with pytest.raises(NotCareStaff):
        selectors.case_for_staff(user=friend, case_id=case.pk)
    with pytest.raises(CaseNotFound):
        commands.message_post_run(
            user=organiser, case_id=case.pk, data={"body": "Let me in"}, as_staff=False
        )
    assert CaseMessage.objects.filter(case=case).count() == 1


def test_a_shared_case_is_read_by_the_group_but_not_a_stranger(group_trip):
    trip, organiser, friend, other, stranger = group_trip
    case = _open(trip, friend, "group")
    for person in (organiser, friend, other):
        assert selectors.case_for_person(user=person, case_id=case.pk) == case
    with pytest.raises(CaseNotFound):
        selectors.case_for_person(user=stranger, case_id=case.pk)
    assert selectors.case_people_ids(case) == sorted([organiser.pk, friend.pk, other.pk])


def test_a_stranger_cannot_open_a_case_on_someone_elses_trip(group_trip):
    trip, *_rest, stranger = group_trip
    with pytest.raises(TripNotFound):
        _open(trip, stranger)
    assert not Case.objects.exists()


def test_only_the_care_team_answers_assigns_and_resolves(group_trip, agent):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    with pytest.raises(NotCareStaff):
        _answer(case, friend)
    with pytest.raises(NotCareStaff):
        services.case_assign(case_id=case.pk, user=friend)
    with pytest.raises(NotCareStaff):
        services.case_resolve(case_id=case.pk, user=friend)
    case.refresh_from_db()
    assert (case.state, case.assigned_to_id, case.first_response_at) == ("open", None, None)


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["", "   \n\t  "])
def test_an_empty_message_is_refused_and_nothing_is_written(group_trip, body):
    trip, _organiser, friend, *_ = group_trip
    with pytest.raises(EmptyMessage):
        _open(trip, friend, body=body)
    case = _open(trip, friend)
    with pytest.raises(EmptyMessage):
        commands.message_post_run(user=friend, case_id=case.pk, data={"body": body}, as_staff=False)
    assert CaseMessage.objects.count() == 1


def test_a_too_long_message_is_refused_whole_not_cut(group_trip):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    with pytest.raises(InvalidInput) as refused:
        commands.message_post_run(
            user=friend,
            case_id=case.pk,
            data={"body": "x" * (MESSAGE_MAX_CHARS + 1)},
            as_staff=False,
        )
    assert "body" in refused.value.fields
    commands.message_post_run(
        user=friend, case_id=case.pk, data={"body": "y" * MESSAGE_MAX_CHARS}, as_staff=False
    )
    assert [len(m.body) for m in CaseMessage.objects.order_by("pk")][1:] == [MESSAGE_MAX_CHARS]


def test_a_bad_visibility_or_a_missing_body_is_invalid(group_trip):
    trip, _organiser, friend, *_ = group_trip
    with pytest.raises(InvalidInput):
        _open(trip, friend, visibility="everyone")
    with pytest.raises(InvalidInput):
        commands.case_open_run(user=friend, trip_id=trip.pk, data={"visibility": "me"})
    assert not Case.objects.exists()


def test_a_traveller_writing_too_fast_is_refused_until_the_window_passes(group_trip, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_CARE_MESSAGE": "3/m"}
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    for n in range(3):
        commands.message_post_run(
            user=friend, case_id=case.pk, data={"body": f"more {n}"}, as_staff=False
        )
    with pytest.raises(RateLimited) as refused:
        commands.message_post_run(
            user=friend, case_id=case.pk, data={"body": "and more"}, as_staff=False
        )
    assert refused.value.retry_after >= 1
    assert CaseMessage.objects.filter(case=case).count() == 4
    cache.clear()  # the window has passed
    commands.message_post_run(user=friend, case_id=case.pk, data={"body": "ok"}, as_staff=False)


def test_opening_cases_is_rate_limited_too(group_trip, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_CARE_OPEN": "2/h"}
    trip, _organiser, friend, *_ = group_trip
    _open(trip, friend)
    _open(trip, friend)
    with pytest.raises(RateLimited):
        _open(trip, friend)
    assert Case.objects.count() == 2


# --- States and times ------------------------------------------------------------------


def test_the_first_answer_is_recorded_once_and_assigns_the_agent(group_trip, agent):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    Case.objects.filter(pk=case.pk).update(created_at=timezone.now() - dt.timedelta(minutes=7))
    first = _answer(case, agent)
    case.refresh_from_db()
    assert case.state == Case.State.ANSWERED
    assert case.first_response_at == first.created_at
    assert 7 * 60 <= case.first_response_seconds < 7 * 60 + 30
    assert case.assigned_to == agent

    commands.message_post_run(user=friend, case_id=case.pk, data={"body": "?"}, as_staff=False)
    case.refresh_from_db()
    assert case.state == Case.State.OPEN
    _answer(case, agent, "Second answer")
    case.refresh_from_db()
    assert case.first_response_at == first.created_at  # the first one stays


def test_resolving_records_the_time_and_a_new_message_opens_the_case_again(group_trip, agent):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    _answer(case, agent)
    services.case_resolve(case_id=case.pk, user=agent)
    case.refresh_from_db()
    assert case.state == Case.State.RESOLVED and case.resolved_at is not None
    with pytest.raises(CaseResolved):
        services.case_resolve(case_id=case.pk, user=agent)
    commands.message_post_run(
        user=friend, case_id=case.pk, data={"body": "Still stuck"}, as_staff=False
    )
    case.refresh_from_db()
    assert (case.state, case.resolved_at) == (Case.State.OPEN, None)


def test_an_agent_takes_a_case(group_trip, agent):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    services.case_assign(case_id=case.pk, user=agent)
    case.refresh_from_db()
    assert case.assigned_to == agent


# --- "Usually answers within N minutes" ----------------------------------------------------


def _answered_case(trip, user, *, opened_ago, wait_minutes):
    now = timezone.now()
    case = _open(trip, user)
    opened = now - opened_ago
    Case.objects.filter(pk=case.pk).update(
        created_at=opened, first_response_at=opened + dt.timedelta(minutes=wait_minutes)
    )
    return case


def test_usually_answers_within_is_the_median_of_the_last_seven_days(
    group_trip, settings, django_assert_num_queries
):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_CARE_OPEN": "100/h"}
    trip, _organiser, friend, *_ = group_trip
    assert selectors.usual_response_minutes() is None
    for wait in (2, 4, 9.5, 30, 61):
        _answered_case(trip, friend, opened_ago=dt.timedelta(days=1), wait_minutes=wait)
    # Older than the window, or not answered yet: not counted.
    _answered_case(trip, friend, opened_ago=dt.timedelta(days=9), wait_minutes=600)
    _open(trip, friend)
    with django_assert_num_queries(1):
        minutes = selectors.usual_response_minutes()
    assert minutes == 10  # the median, 9.5 minutes, rounded up


def test_usually_answers_within_is_at_least_a_minute(group_trip):
    trip, _organiser, friend, *_ = group_trip
    _answered_case(trip, friend, opened_ago=dt.timedelta(hours=1), wait_minutes=0.1)
    assert selectors.usual_response_minutes() == 1


# --- The e-mail of an answer --------------------------------------------------------------


def test_an_answer_is_mailed_to_the_cases_people_who_are_not_on_the_page(group_trip, agent):
    trip, organiser, friend, other, _stranger = group_trip
    case = _open(trip, friend, "group")
    services.watcher_join(case_id=case.pk, user=other, channel_name="socket-of-yuna")
    answer = _answer(case, agent)
    queued = Message.objects.filter(kind="care.staff_answered", object_id=answer.pk)
    assert sorted(queued.values_list("recipient_id", flat=True)) == sorted(
        [organiser.pk, friend.pk]
    )
    # A traveller's own message mails nobody.
    commands.message_post_run(user=friend, case_id=case.pk, data={"body": "Thx"}, as_staff=False)
    assert Message.objects.count() == 2


def test_a_stale_watcher_does_not_stop_the_email(group_trip, agent):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    services.watcher_join(case_id=case.pk, user=friend, channel_name="old-socket")
    from care.models import CaseWatcher

    CaseWatcher.objects.update(seen_at=timezone.now() - dt.timedelta(minutes=10))
    answer = _answer(case, agent)
    assert Message.objects.filter(object_id=answer.pk, recipient=friend).exists()
    assert services.watchers_forget(before=timezone.now()) == 1


def test_the_answer_email_renders_in_the_travellers_language(group_trip, agent):
    from django.utils import translation

    from notices import kinds

    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    answer = _answer(case, agent, "Take the 14:02 <b>instead</b>.")
    message = Message.objects.get(object_id=answer.pk)
    render = kinds.kind_get("care.staff_answered").render
    with translation.override("fr"):
        email_fr = render(message)
    with translation.override("en"):
        email_en = render(message)
    assert "équipe" in email_fr.subject.lower() or "service" in email_fr.subject.lower()
    assert "care team" in email_en.subject
    assert "Take the 14:02 <b>instead</b>." in email_en.text
    assert "&lt;b&gt;instead&lt;/b&gt;" in email_en.html
    assert f"/help/cases/{case.pk}/" in email_en.text


# --- The person's data ---------------------------------------------------------------------


def test_download_my_data_has_my_conversations_and_the_answers(group_trip, agent):
    from groups.exports import registered_sections

    trip, organiser, friend, *_ = group_trip
    case = _open(trip, friend, "group", body="Where is coach 7?")
    _answer(case, agent, "At the front.")
    commands.message_post_run(
        user=organiser, case_id=case.pk, data={"body": "Organiser's words"}, as_staff=False
    )
    assert "care_conversations" in registered_sections()
    exported = selectors.person_export(friend)
    assert [m["body"] for m in exported[0]["messages"]] == ["Where is coach 7?", "At the front."]
    assert exported[0]["visibility"] == "group"
    assert selectors.person_export(organiser) == []


def test_deleting_an_account_deletes_what_the_person_wrote(group_trip, agent):
    from groups.account_services import account_delete

    trip, organiser, friend, *_ = group_trip
    private = _open(trip, friend, "me", body="My private worry")
    shared = _open(trip, friend, "group", body="Our shared worry")
    _answer(shared, agent, "Answer to all")
    commands.message_post_run(
        user=organiser, case_id=shared.pk, data={"body": "Organiser's words"}, as_staff=False
    )
    account_delete(user=friend)
    assert not Case.objects.filter(pk=private.pk).exists()
    assert list(
        CaseMessage.objects.filter(case=shared).order_by("pk").values_list("body", flat=True)
    ) == ["Answer to all", "Organiser's words"]
