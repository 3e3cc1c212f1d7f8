"""Care's sockets, through the channel layer configured (in-memory by default, Redis with
``REDIS_URL``): the conversation reaches its people and the agent live, the inbox hears
of new cases, strangers are refused, bad frames change nothing."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from care import commands
from care.models import Case, CaseMessage, CaseWatcher
from config.routing import websocket_urlpatterns
from notices.models import Message
from tests.booking.test_live_consumer import receive

pytestmark = pytest.mark.django_db(transaction=True)

router = URLRouter(websocket_urlpatterns)
TIMEOUT = 3


def socket(user, path):
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    return communicator


@database_sync_to_async
def open_case(trip, user, visibility="me", body="Help"):
    return commands.case_open_run(
        user=user, trip_id=trip.pk, data={"body": body, "visibility": visibility}
    )


def test_an_answer_reaches_the_traveller_live_and_no_email_is_queued(group_trip, agent):
    trip, _organiser, friend, *_ = group_trip

    async def scenario():
        inbox = socket(agent, "/ws/care/inbox/")
        assert (await inbox.connect())[0]
        await receive(inbox, "ready")
        case = await open_case(trip, friend, body="Our train is cancelled")
        opened = await receive(inbox, "case_opened")
        assert opened["case"]["id"] == case.pk
        assert opened["case"]["preview"] == "Our train is cancelled"
        assert opened["case"]["opened_by"] == "Farid Friend"

        traveller = socket(friend, f"/ws/care/cases/{case.pk}/")
        staff = socket(agent, f"/ws/care/cases/{case.pk}/?as=staff")
        assert (await traveller.connect())[0] and (await staff.connect())[0]
        first = await receive(traveller, "conversation")
        assert [m["body"] for m in first["messages"]] == ["Our train is cancelled"]
        await receive(staff, "conversation")

        await staff.send_json_to({"type": "post", "id": 1, "body": "Take the next one, 14:02."})
        ack = await receive(staff, "ack")
        assert ack["id"] == 1
        for communicator in (traveller, staff):
            frame = await receive(communicator, "message")
            assert frame["message"]["body"] == "Take the next one, 14:02."
            assert frame["message"]["by_staff"] is True
            assert frame["message"]["author"] == "Alex Agent"
            assert frame["case"]["state"] == "answered"
        changed = await receive(inbox, "case_changed")
        assert changed["case"]["state"] == "answered"

        await traveller.send_json_to({"type": "post", "id": "t1", "body": "Thanks!"})
        assert (await receive(traveller, "ack"))["id"] == "t1"
        frame = await receive(staff, "message")
        assert frame["message"]["by_staff"] is False and frame["case"]["state"] == "open"
        for communicator in (traveller, staff, inbox):
            await communicator.disconnect()
        return case

    case = async_to_sync(scenario)()
    case.refresh_from_db()
    assert case.first_response_at is not None
    # The traveller had the page open: told there, not by e-mail; gone now.
    assert not Message.objects.filter(kind="care.staff_answered").exists()
    assert not CaseWatcher.objects.exists()


def test_a_shared_case_reaches_the_whole_group_live(group_trip, agent):
    trip, organiser, friend, _other, _stranger = group_trip

    async def scenario():
        case = await open_case(trip, friend, visibility="group")
        organiser_socket = socket(organiser, f"/ws/care/cases/{case.pk}/")
        assert (await organiser_socket.connect())[0]
        await receive(organiser_socket, "conversation")
        staff = socket(agent, f"/ws/care/cases/{case.pk}/?as=staff")
        assert (await staff.connect())[0]
        await receive(staff, "conversation")
        await staff.send_json_to({"type": "post", "body": "Hello all"})
        frame = await receive(organiser_socket, "message")
        assert frame["message"]["body"] == "Hello all"
        await organiser_socket.disconnect()
        await staff.disconnect()

    async_to_sync(scenario)()


def test_strangers_and_travellers_posing_as_staff_are_refused(group_trip, agent):
    trip, organiser, friend, _other, stranger = group_trip

    async def refused(user, path):
        communicator = socket(user, path)
        await communicator.connect()
        output = await communicator.receive_output(timeout=TIMEOUT)
        frames = []
        while output["type"] == "websocket.send":
            frames.append(output)
            output = await communicator.receive_output(timeout=TIMEOUT)
        assert output["type"] == "websocket.close" and output["code"] in (4404, 4401)
        assert not any("Secret" in (f.get("text") or "") for f in frames)

    async def scenario():
        case = await open_case(trip, friend, body="Secret")
        await refused(stranger, f"/ws/care/cases/{case.pk}/")
        await refused(organiser, f"/ws/care/cases/{case.pk}/")  # a private case
        await refused(friend, f"/ws/care/cases/{case.pk}/?as=staff")
        await refused(friend, "/ws/care/inbox/")
        await refused(None, f"/ws/care/cases/{case.pk}/")

    async_to_sync(scenario)()


def test_bad_frames_are_refused_and_change_nothing(group_trip, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_CARE_MESSAGE": "3/m"}
    trip, _organiser, friend, *_ = group_trip

    async def scenario():
        case = await open_case(trip, friend)
        traveller = socket(friend, f"/ws/care/cases/{case.pk}/")
        assert (await traveller.connect())[0]
        await receive(traveller, "conversation")
        await traveller.send_json_to({"type": "post", "id": 1, "body": "   "})
        assert (await receive(traveller, "error"))["code"] == "empty_message"
        await traveller.send_json_to({"type": "post", "id": 2, "body": "x" * 2001})
        assert (await receive(traveller, "error"))["code"] == "invalid"
        await traveller.send_json_to({"type": "post", "id": 3, "body": ["not", "text"]})
        assert (await receive(traveller, "error"))["code"] == "invalid"
        await traveller.send_to(text_data="{nope")
        assert (await receive(traveller, "error"))["code"] == "malformed"
        await traveller.send_to(text_data="x" * 20_000)
        assert (await receive(traveller, "error"))["code"] == "message_too_large"
        await traveller.send_json_to({"type": "resolve", "id": 4})
        assert (await receive(traveller, "error"))["code"] == "unknown_command"
        await traveller.send_json_to({"type": "post", "id": 5, "body": "too fast"})
        assert (await receive(traveller, "error"))["code"] == "rate_limited"
        await traveller.send_json_to({"type": "ping", "id": 6})
        assert (await receive(traveller, "pong"))["id"] == 6
        await traveller.disconnect()
        return case

    case = async_to_sync(scenario)()
    assert CaseMessage.objects.filter(case=case).count() == 1
    assert Case.objects.get(pk=case.pk).state == "open"
