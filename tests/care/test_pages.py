"""Care's pages: "Get help" on the trip and pay pages, opening a case, the conversation
(its form door, escaping, refusals), and the care team's inbox."""

import pytest
from django.test import Client

from care import commands
from care.models import MESSAGE_MAX_CHARS, Case, CaseMessage
from tests import factories
from tests.care.conftest import make_agent

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _open(trip, user, visibility="me", body="Help, please"):
    return commands.case_open_run(
        user=user, trip_id=trip.pk, data={"body": body, "visibility": visibility}
    )


def test_the_trip_page_has_a_get_help_link(group_trip):
    trip, organiser, *_ = group_trip
    page = _client(organiser).get(f"/trips/{trip.pk}/")
    assert page.status_code == 200
    assert f'href="/help/trips/{trip.pk}/"'.encode() in page.content
    assert b"data-care-help-link" in page.content


def test_the_pay_page_has_a_get_help_link():
    from django.urls import reverse

    from payments import services as payments

    trip, people, _departure = factories.checkout_ready_trip(travellers=2)
    checkout = payments.checkout_start(trip_id=trip.pk, by=people[0])
    token = payments.pay_link_token(checkout=checkout, payer=people[1])
    page = _client(people[1]).get(reverse("pay", args=[token]))
    assert page.status_code == 200
    assert f'href="/help/trips/{trip.pk}/"'.encode() in page.content


def test_a_traveller_opens_a_shared_case_and_lands_on_the_conversation(group_trip):
    trip, _organiser, friend, other, _stranger = group_trip
    client = _client(friend)
    assert client.get(f"/help/trips/{trip.pk}/").status_code == 200
    answer = client.post(
        f"/help/trips/{trip.pk}/", {"body": "Our train is cancelled", "visibility": "group"}
    )
    case = Case.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/help/cases/{case.pk}/"
    assert case.visibility == "group" and case.opened_by == friend
    page = _client(other).get(f"/help/cases/{case.pk}/")
    assert page.status_code == 200 and b"Our train is cancelled" in page.content


def test_opening_an_empty_case_is_refused_and_keeps_the_choice(group_trip):
    trip, _organiser, friend, *_ = group_trip
    page = _client(friend).post(f"/help/trips/{trip.pk}/", {"body": " ", "visibility": "group"})
    assert page.status_code == 400
    assert b'data-error-code="empty_message"' in page.content
    assert b'value="group" checked' in page.content
    assert not Case.objects.exists()


def test_strangers_and_other_members_of_a_private_case_get_404(group_trip):
    trip, organiser, friend, _other, stranger = group_trip
    case = _open(trip, friend)
    for person in (organiser, stranger):
        client = _client(person)
        assert client.get(f"/help/cases/{case.pk}/").status_code == 404
        assert client.post(f"/help/cases/{case.pk}/", {"body": "hi"}).status_code == 404
        assert client.get(f"/care/inbox/{case.pk}/").status_code == 404
    assert _client(stranger).get(f"/help/trips/{trip.pk}/").status_code == 404
    assert CaseMessage.objects.count() == 1


def test_someone_waiting_to_join_cannot_ask_yet(group_trip):
    from groups.models import Membership

    trip, *_rest, stranger = group_trip
    Membership.objects.create(group=trip.group, user=stranger, status="pending")
    client = _client(stranger)
    assert client.get(f"/help/trips/{trip.pk}/").status_code == 403
    assert client.post(f"/help/trips/{trip.pk}/", {"body": "let me in"}).status_code == 403
    assert not Case.objects.exists()


def test_a_message_is_shown_escaped(group_trip):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend, body='<script>alert("x")</script>')
    page = _client(friend).get(f"/help/cases/{case.pk}/")
    assert b'<script>alert("x")</script>' not in page.content
    assert b"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.content


@pytest.mark.parametrize(
    ("body", "code"),
    [("   ", b'data-error-code="empty_message"'), ("x" * (MESSAGE_MAX_CHARS + 1), b"2000")],
)
def test_a_bad_message_is_refused_on_the_page_and_the_draft_kept(group_trip, body, code):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    page = _client(friend).post(f"/help/cases/{case.pk}/", {"body": body})
    assert page.status_code == 400
    assert code in page.content
    assert CaseMessage.objects.count() == 1
    if body.strip():
        assert body.encode() in page.content  # nothing the person wrote is lost


def test_the_inbox_is_for_the_care_team_only(group_trip):
    _trip, organiser, *_ = group_trip
    assert _client(organiser).get("/care/inbox/").status_code == 404
    assert Client().get("/care/inbox/").status_code == 302  # to the login page


def test_the_inbox_lists_unanswered_cases_first(group_trip, agent, django_assert_max_num_queries):
    trip, organiser, friend, other, _stranger = group_trip
    answered = _open(trip, organiser, body="first, and answered")
    waiting_long = _open(trip, friend, body="second, still waiting")
    waiting = _open(trip, other, body="third, still waiting")
    commands.message_post_run(user=agent, case_id=answered.pk, data={"body": "done"}, as_staff=True)
    client = _client(agent)
    client.get("/care/inbox/")  # the session and permissions, read once
    with django_assert_max_num_queries(8):
        page = client.get("/care/inbox/")
    content = page.content.decode()
    order = [content.index(f'data-inbox-case="{c.pk}"') for c in (waiting_long, waiting, answered)]
    assert order == sorted(order)
    assert "second, still waiting" in content


def test_an_agent_answers_assigns_and_resolves_from_the_inbox(group_trip, agent):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    client = _client(agent)
    page = client.get(f"/care/inbox/{case.pk}/")
    assert page.status_code == 200
    assert b"data-care-tickets" in page.content and b"data-care-payments" in page.content
    assert b"data-care-disruptions" in page.content
    other_agent = make_agent("Bea Agent")
    _client(other_agent).post(f"/care/inbox/{case.pk}/assign/")
    case.refresh_from_db()
    assert case.assigned_to == other_agent
    assert client.post(f"/care/inbox/{case.pk}/", {"body": "Here to help"}).status_code == 302
    case.refresh_from_db()
    assert case.state == "answered" and case.first_response_at is not None
    assert case.assigned_to == other_agent  # answering does not take the case away
    assert client.post(f"/care/inbox/{case.pk}/resolve/").status_code == 302
    assert client.post(f"/care/inbox/{case.pk}/resolve/").status_code == 302  # twice: same
    case.refresh_from_db()
    assert case.state == "resolved"
    page = _client(friend).get(f"/help/cases/{case.pk}/")
    assert b"Here to help" in page.content and b"care-msg--staff" in page.content


def test_the_inbox_case_page_reads_a_fixed_number_of_queries(
    group_trip, agent, django_assert_max_num_queries
):
    trip, _organiser, friend, *_ = group_trip
    case = _open(trip, friend)
    client = _client(agent)
    client.get(f"/care/inbox/{case.pk}/")
    with django_assert_max_num_queries(20) as small:
        client.get(f"/care/inbox/{case.pk}/")
    for n in range(5):
        commands.message_post_run(
            user=agent, case_id=case.pk, data={"body": f"answer {n}"}, as_staff=True
        )
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(f"/care/inbox/{case.pk}/")
