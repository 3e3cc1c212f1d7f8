"""One language per person (issue 22, point 9): the live plan's server answers in the
language of the person's pages (their language cookie, else Accept-Language), not in
the site's default; the API's errors likewise."""

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings

from booking import plan
from config.routing import websocket_urlpatterns
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

router = URLRouter(websocket_urlpatterns)


def socket(user, trip_id, headers):
    communicator = WebsocketCommunicator(router, f"/ws/trips/{trip_id}/", headers=headers)
    communicator.scope["user"] = user
    return communicator


async def frame(communicator, kind):
    for _ in range(20):
        message = await communicator.receive_json_from(timeout=3)
        if message["type"] == kind:
            return message
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"accept-language", b"en-GB,en;q=0.9")], "Everyone already has a seat on this train."),
        (
            [(b"cookie", f"{settings.LANGUAGE_COOKIE_NAME}=en".encode())],
            "Everyone already has a seat on this train.",
        ),
        ([(b"accept-language", b"fr-FR")], "Tout le monde a déjà une place dans ce train."),
    ],
)
def test_a_refusal_reaches_the_person_in_their_language(settings, headers, expected):
    settings.LANGUAGE_CODE = "fr"
    trip, people, (early, _late) = factories.planned_trip(travellers=2)
    plan.sit_together(trip_id=trip.pk, user=people[0], leg="outbound", departure_id=early.pk)

    async def run():
        communicator = socket(people[1], trip.pk, headers)
        connected, _ = await communicator.connect()
        assert connected
        await frame(communicator, "snapshot")
        await communicator.send_json_to(
            {"type": "sit_together", "id": 1, "leg": "outbound", "departure_id": early.pk}
        )
        error = await frame(communicator, "error")
        await communicator.disconnect()
        return error

    error = async_to_sync(run)()
    assert error["code"] == "everyone_seated"
    assert error["message"] == expected


def test_an_api_error_comes_in_the_persons_language(client):
    user = factories.user("Ann")
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    answer = client.post("/api/trips/", {}, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"]["origin"] == ["This field is required."]
