"""The live plan's REST door: the same services as the websocket (``booking.plan``), the
same snapshot and events (``booking.plan_selectors``), the same error codes.

Thin views: each change is a command of ``booking.commands`` (the same table as the
websocket's and the forms': rate limit, input serializer, service), so a bad input gets
the same refusal whichever door it came by. The service locks the trip, checks who may,
writes, appends the event and broadcasts it after commit to every member's socket, the
caller's too; the answer is the event as the sockets get it. Domain errors are rendered
once by ``core.api_errors`` (``rate_limited``: 429 with ``Retry-After``). See
docs/live-protocol.md.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from booking import plan_selectors
from booking.commands import command_run
from booking.live import event_message
from booking.plan_serializers import (
    FareChooseSerializer,
    LegQuerySerializer,
    PlanChangeSerializer,
    PlanEventsQuerySerializer,
    PlanEventsSerializer,
    PlanSnapshotSerializer,
    PollProposeSerializer,
    SeatPickSerializer,
    SettleSerializer,
    SitTogetherSerializer,
    VoteSerializer,
)
from core.api import LoggedInApi, errors
from core.errors import Conflict
from core.serializers import ErrorSerializer


class ResyncNeeded(Conflict):
    """The client is too far behind (or ahead) for the event log: it fetches the snapshot.
    (The websocket sends the snapshot itself in that case.)"""

    code = "resync_needed"
    default_message = _("Too much has changed since then: load the plan again.")


_CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description=(
        "Conflicts with the current state: seat_taken, leg_settled, no_block_fits, "
        "everyone_seated, trip_locked (the trip is not being planned any more)"
    ),
)
_RATE_LIMITED = OpenApiResponse(
    ErrorSerializer,
    description=(
        "rate_limited: too many changes of the plan in a short time, whichever door "
        "(RATE_PLAN, per person); the Retry-After header says when to try again"
    ),
)
_CHANGE_ERRORS = {**errors(400, 403, 404), 409: _CONFLICT, 429: _RATE_LIMITED}


def _changed(request, trip_id: int, command: str, *, data=None, created=True) -> Response:
    """Run ``command`` of the table; answer the trip's new version and the event, exactly
    as every member's socket gets it."""
    event = command_run(
        command, trip_id=trip_id, user=request.user, data=request.data if data is None else data
    )
    return Response(
        {"version": event.version, "event": event_message(event)},
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class TripPlanApi(LoggedInApi):
    @extend_schema(
        responses={200: PlanSnapshotSerializer, **errors(403, 404)},
        summary="The live plan as I may see it, with the trip's version (active travellers)",
        description=(
            "The same snapshot the websocket sends on connect. A stranger, and anyone who is "
            "not an active traveller, gets 404 trip_not_found; someone waiting for approval "
            "403 not_member."
        ),
    )
    def get(self, request, trip_id: int):
        return Response(plan_selectors.plan_snapshot(user=request.user, trip_id=trip_id))


class TripPlanEventsApi(LoggedInApi):
    @extend_schema(
        parameters=[PlanEventsQuerySerializer],
        responses={
            200: PlanEventsSerializer,
            **errors(400, 403, 404),
            409: OpenApiResponse(
                ErrorSerializer,
                description="resync_needed: too far behind for the event log; get the plan",
            ),
        },
        summary="The events after a version, oldest first (catching up)",
    )
    def get(self, request, trip_id: int):
        since = _valid(PlanEventsQuerySerializer, request.query_params)["since"]
        plan_selectors.trip_for_member(user=request.user, trip_id=trip_id)
        events = plan_selectors.events_since(trip_id=trip_id, version=since)
        if events is None:
            raise ResyncNeeded()
        version = events[-1]["version"] if events else since
        return Response({"version": version, "events": events})


class TripPlanPollApi(LoggedInApi):
    @extend_schema(
        request=PollProposeSerializer,
        responses={201: PlanChangeSerializer, **_CHANGE_ERRORS},
        summary="Propose a leg's candidate departures, 2 to 5 (organiser)",
    )
    def post(self, request, trip_id: int):
        return _changed(request, trip_id, "propose")


class TripPlanVotesApi(LoggedInApi):
    @extend_schema(
        request=VoteSerializer,
        responses={201: PlanChangeSerializer, **_CHANGE_ERRORS},
        summary="Vote for one of a leg's options, or take my vote back (departure_id null)",
    )
    def post(self, request, trip_id: int):
        return _changed(request, trip_id, "vote")


class TripPlanSettleApi(LoggedInApi):
    @extend_schema(
        request=SettleSerializer,
        responses={201: PlanChangeSerializer, **_CHANGE_ERRORS},
        summary="Choose a leg's departure among its options; holds on the others go (organiser)",
    )
    def post(self, request, trip_id: int):
        return _changed(request, trip_id, "settle")


class TripPlanFareApi(LoggedInApi):
    @extend_schema(
        request=FareChooseSerializer,
        responses={200: PlanChangeSerializer, **_CHANGE_ERRORS},
        summary="My own fare, passenger type and discount card on a leg (eligibility checked)",
    )
    def put(self, request, trip_id: int):
        return _changed(request, trip_id, "choose_fare", created=False)


class TripPlanSeatApi(LoggedInApi):
    @extend_schema(
        request=SeatPickSerializer,
        responses={201: PlanChangeSerializer, **_CHANGE_ERRORS},
        summary="Hold a seat for myself on a leg; my previous seat on it is let go",
    )
    def post(self, request, trip_id: int):
        return _changed(request, trip_id, "pick_seat")

    @extend_schema(
        parameters=[LegQuerySerializer],
        request=None,
        responses={200: PlanChangeSerializer, **_CHANGE_ERRORS},
        summary="Let go of my seat on a leg",
    )
    def delete(self, request, trip_id: int):
        return _changed(request, trip_id, "release_seat", data=request.query_params, created=False)


class TripPlanSitTogetherApi(LoggedInApi):
    @extend_schema(
        request=SitTogetherSerializer,
        responses={201: PlanChangeSerializer, **_CHANGE_ERRORS},
        summary="Seat everyone still without a seat on the leg together, in one block",
        description=(
            "409 no_block_fits when no block fits (the message proposes the closest split; "
            "nothing is taken), everyone_seated when nobody is waiting for a seat."
        ),
    )
    def post(self, request, trip_id: int):
        return _changed(request, trip_id, "sit_together")
