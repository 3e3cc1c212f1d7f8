"""Care's REST door (docs/care.md), for clients other than the pages: open a case about a
trip, read a conversation, write in it. Thin: the same commands as the pages' forms and
the socket (``care.commands``: rate limit, input serializer, service), the same access
(``care.selectors``); domain errors are rendered once by ``core.api_errors``. Live
updates come by the socket, ``/ws/care/cases/<id>/``."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from care import commands, selectors
from care.errors import CaseNotFound
from care.models import Case
from core.api import LoggedInApi, errors
from core.serializers import ErrorSerializer


class MessageOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    by_staff = serializers.BooleanField(help_text="Written by the care team.")
    author_id = serializers.IntegerField(allow_null=True)
    author = serializers.CharField(help_text="The author's name (never an e-mail address).")
    body = serializers.CharField()
    at = serializers.DateTimeField()


class CaseOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trip_id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=Case.State.values)
    visibility = serializers.ChoiceField(choices=Case.Visibility.values)
    assigned_to = serializers.CharField(allow_null=True, help_text="The agent's name.")
    first_response_seconds = serializers.IntegerField(
        allow_null=True, help_text="From opening to the care team's first answer."
    )


class ConversationSerializer(serializers.Serializer):
    case = CaseOutSerializer()
    messages = MessageOutSerializer(many=True)


_BAD_MESSAGE = OpenApiResponse(
    ErrorSerializer,
    description="invalid (too long: at most 2,000 characters; not text), empty_message",
)
_RATE_LIMITED = OpenApiResponse(ErrorSerializer, description="rate_limited")


def _conversation(case: Case) -> dict:
    return {
        "case": selectors.case_dict(case),
        "messages": [selectors.message_dict(m) for m in selectors.case_messages(case_id=case.pk)],
    }


def _case_for(user, case_id: int) -> tuple[Case, bool]:
    """The case and whether ``user`` reads it as the care team: one of the case's people
    reads it as a traveller, else an agent as the team; anyone else: ``case_not_found``."""
    try:
        return selectors.case_for_person(user=user, case_id=case_id), False
    except CaseNotFound:
        if not selectors.is_care_staff(user):
            raise
    return selectors.case_for_staff(user=user, case_id=case_id), True


class TripCasesApi(LoggedInApi):
    @extend_schema(
        request=commands.CaseOpenSerializer,
        responses={
            201: ConversationSerializer,
            400: _BAD_MESSAGE,
            **errors(403, 404),
            429: _RATE_LIMITED,
        },
        summary="Ask the care team for help about a trip (its travellers)",
        description=(
            "visibility: me (only me and the care team) or group (every traveller of the "
            "trip's group). Anyone but the trip's travellers gets 404 trip_not_found."
        ),
    )
    def post(self, request, trip_id: int):
        case = commands.case_open_run(user=request.user, trip_id=trip_id, data=request.data)
        return Response(
            ConversationSerializer(_conversation(case)).data, status=status.HTTP_201_CREATED
        )


class CaseApi(LoggedInApi):
    @extend_schema(
        responses={200: ConversationSerializer, **errors(403, 404)},
        summary="A conversation with the care team (its people, or the care team)",
        description="Anyone else gets 404 case_not_found, as for a case that does not exist.",
    )
    def get(self, request, case_id: int):
        case, _as_staff = _case_for(request.user, case_id)
        return Response(ConversationSerializer(_conversation(case)).data)


class CaseMessagesApi(LoggedInApi):
    @extend_schema(
        request=commands.MessageSerializer,
        responses={
            201: MessageOutSerializer,
            400: _BAD_MESSAGE,
            **errors(403, 404),
            429: _RATE_LIMITED,
        },
        summary="Write in a conversation with the care team",
        description=(
            "A traveller's message puts the case back in the care team's queue; an agent's "
            "is an answer (the first one's time is recorded)."
        ),
    )
    def post(self, request, case_id: int):
        case, as_staff = _case_for(request.user, case_id)
        message = commands.message_post_run(
            user=request.user, case_id=case.pk, data=request.data, as_staff=as_staff
        )
        return Response(
            MessageOutSerializer(selectors.message_dict(message)).data,
            status=status.HTTP_201_CREATED,
        )
