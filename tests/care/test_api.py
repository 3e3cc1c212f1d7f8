"""Care's REST door: the same commands and access as the pages and the socket."""

import pytest
from rest_framework.test import APIClient

from care.models import Case, CaseMessage

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_traveller_opens_reads_and_writes_and_an_agent_answers(group_trip, agent):
    trip, _organiser, friend, other, stranger = group_trip
    opened = _api(friend).post(
        f"/api/trips/{trip.pk}/care/cases/",
        {"body": "Our train is cancelled", "visibility": "group"},
        format="json",
    )
    assert opened.status_code == 201, opened.json()
    case_id = opened.json()["case"]["id"]
    assert opened.json()["messages"][0]["body"] == "Our train is cancelled"

    answer = _api(agent).post(
        f"/api/care/cases/{case_id}/messages/", {"body": "On it"}, format="json"
    )
    assert answer.status_code == 201 and answer.json()["by_staff"] is True
    read = _api(other).get(f"/api/care/cases/{case_id}/")
    assert read.status_code == 200
    assert read.json()["case"]["state"] == "answered"
    assert read.json()["case"]["first_response_seconds"] is not None
    assert [m["by_staff"] for m in read.json()["messages"]] == [False, True]

    assert _api(stranger).get(f"/api/care/cases/{case_id}/").status_code == 404
    refused = _api(stranger).post(
        f"/api/care/cases/{case_id}/messages/", {"body": "hi"}, format="json"
    )
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "case_not_found"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"body": "  "}, "empty_message"),
        ({"body": "x" * 2001}, "invalid"),
        ({"body": 42}, "invalid"),
        ({}, "invalid"),
        ({"body": "ok", "visibility": "world"}, "invalid"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(group_trip, payload, code):
    trip, _organiser, friend, *_ = group_trip
    answer = _api(friend).post(f"/api/trips/{trip.pk}/care/cases/", payload, format="json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    assert not Case.objects.exists() and not CaseMessage.objects.exists()


def test_strangers_and_anonymous_callers_cannot_open_a_case(group_trip):
    trip, *_rest, stranger = group_trip
    url = f"/api/trips/{trip.pk}/care/cases/"
    assert _api(stranger).post(url, {"body": "hi"}, format="json").status_code == 404
    assert APIClient().post(url, {"body": "hi"}, format="json").status_code == 403
    assert not Case.objects.exists()
