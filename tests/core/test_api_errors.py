"""Every error of the API has one JSON shape, ``{"error": {"code", "message", ["fields"]}}``,
made in one place (core/api_errors.py): domain errors, DRF's own errors, Django's 404 and
a crash alike."""

import pytest
from django.http import Http404
from django.test import RequestFactory
from rest_framework import exceptions, serializers
from rest_framework.test import APIClient

from booking import selectors
from core.api_errors import exception_handler
from core.errors import Conflict, DomainError, InvalidInput, NotFound


def _handle(exc):
    response = exception_handler(exc, {"request": RequestFactory().get("/api/x/")})
    assert response is not None
    return response.status_code, response.data


class _Member(serializers.Serializer):
    name = serializers.CharField()
    age = serializers.IntegerField(min_value=0)


class _Trip(serializers.Serializer):
    title = serializers.CharField()
    members = _Member(many=True)
    tags = serializers.ListField(child=serializers.IntegerField())

    def validate(self, attrs):
        if attrs["title"] == "no":
            raise serializers.ValidationError("Not that title.")
        return attrs


def _validation_error(data) -> exceptions.ValidationError:
    serializer = _Trip(data=data)
    with pytest.raises(exceptions.ValidationError) as caught:
        serializer.is_valid(raise_exception=True)
    return caught.value


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidInput(), 400, "invalid"),
        (NotFound(), 404, "not_found"),
        (Conflict(), 409, "conflict"),
        (DomainError("Seat taken.", code="seat_taken"), 400, "seat_taken"),
    ],
)
def test_a_domain_error_keeps_its_status_and_code(error, status, code):
    got_status, data = _handle(error)
    assert got_status == status
    assert data == {"error": {"code": code, "message": str(error.message)}}


def test_a_domain_error_with_field_messages_lists_them_as_strings():
    error = InvalidInput("Bad age.", fields={"age": ["Too young."]})
    assert _handle(error)[1] == {
        "error": {"code": "invalid", "message": "Bad age.", "fields": {"age": ["Too young."]}}
    }


def test_a_validation_error_names_each_field_and_the_first_in_the_message():
    status, data = _handle(_validation_error({"members": [], "tags": []}))
    assert status == 400
    assert data["error"]["code"] == "invalid"
    assert set(data["error"]["fields"]) == {"title"}
    assert data["error"]["message"].startswith("title")  # "title: …", however translated


def test_nested_validation_errors_get_dotted_paths_not_python_reprs():
    error = _validation_error(
        {
            "title": "Festival",
            "members": [{"name": "Ana", "age": 20}, {"name": "Bo", "age": -1}],
            "tags": [1, "x"],
        }
    )
    fields = _handle(error)[1]["error"]["fields"]
    assert set(fields) == {"members.1.age", "tags.1"}
    for messages in fields.values():
        assert all("{" not in m and "ErrorDetail" not in m for m in messages)


def test_an_error_of_the_whole_input_is_its_message_without_a_field_prefix():
    error = _validation_error({"title": "no", "members": [], "tags": []})
    body = _handle(error)[1]["error"]
    assert body["message"] == "Not that title."
    assert body["fields"] == {"non_field_errors": ["Not that title."]}


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (Http404(), 404, "not_found"),
        (exceptions.ParseError(), 400, "parse_error"),
        (exceptions.NotAuthenticated(), 401, "not_authenticated"),
        (exceptions.MethodNotAllowed("POST"), 405, "method_not_allowed"),
        (exceptions.Throttled(wait=3), 429, "throttled"),
    ],
)
def test_drf_and_django_errors_have_the_same_shape(exc, status, code):
    got_status, data = _handle(exc)
    assert got_status == status
    assert set(data) == {"error"}
    assert data["error"]["code"] == code
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]


def test_an_unexpected_exception_is_left_to_django_to_log_and_answer_500():
    assert exception_handler(RuntimeError("bug"), {}) is None


@pytest.mark.django_db
def test_a_crash_in_an_api_view_is_a_500_json_error_that_leaks_nothing(monkeypatch):
    def crash():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "event_list", crash)
    client = APIClient(raise_request_exception=False)

    response = client.get("/api/events/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == "server_error"
    assert "secret" not in response.content.decode()
