"""The catalog API: thin views that validate input, call a selector and render output.
Errors are raised as domain errors and rendered once by ``core.api_errors``."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from booking import selectors, services, tickets
from booking.models import Trip
from booking.serializers import (
    DepartureDetailSerializer,
    DepartureSearchSerializer,
    DepartureSummarySerializer,
    EventSerializer,
    InvitationPreviewSerializer,
    PriceQuerySerializer,
    PriceQuoteSerializer,
    StationQuerySerializer,
    StationSerializer,
    TripCreateSerializer,
    TripDetailSerializer,
    TripListItemSerializer,
)
from core.api import Api, LoggedInApi, errors
from core.serializers import ErrorSerializer
from groups.api import membership_response
from groups.models import FriendGroup, Membership
from groups.ratelimits import rate_limit
from groups.selectors import group_members, invitation_check
from groups.serializers import MembershipSerializer
from groups.services import invitation_accept

_errors = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input"),
    404: OpenApiResponse(ErrorSerializer, description="Not found"),
}


class StationListApi(APIView):
    @extend_schema(
        parameters=[StationQuerySerializer],
        responses={200: StationSerializer(many=True), 400: _errors[400]},
        summary="List stations",
    )
    def get(self, request):
        query = StationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stations = selectors.station_list(query=query.validated_data["q"])
        return Response(StationSerializer(stations, many=True).data)


class DepartureSearchApi(APIView):
    @extend_schema(
        parameters=[DepartureSearchSerializer],
        responses={200: DepartureSummarySerializer(many=True), 400: _errors[400]},
        summary="Search departures between two stations on a date",
    )
    def get(self, request):
        query = DepartureSearchSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        summaries = selectors.departure_search(
            origin_code=query.validated_data["origin"],
            destination_code=query.validated_data["destination"],
            on_date=query.validated_data["date"],
        )
        return Response(DepartureSummarySerializer(summaries, many=True).data)


class DepartureDetailApi(APIView):
    @extend_schema(
        responses={200: DepartureDetailSerializer, 404: _errors[404]},
        summary="A departure with its fares and seat map (free / held / sold)",
    )
    def get(self, request, departure_id: int):
        detail = selectors.departure_detail(departure_id=departure_id)
        return Response(DepartureDetailSerializer(detail).data)


class DeparturePriceApi(APIView):
    @extend_schema(
        parameters=[PriceQuerySerializer],
        responses={200: PriceQuoteSerializer, 400: _errors[400], 404: _errors[404]},
        summary="One traveller's price on a departure, with eligibility checked",
    )
    def get(self, request, departure_id: int):
        departure = selectors.departure_get(departure_id=departure_id)
        query = PriceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        result = selectors.price_quote(
            departure=departure,
            fare_class_code=data["fare_class"],
            passenger_type_code=data["passenger_type"],
            age=data.get("age"),
            card_code=data["card"],
            card_number=data["card_number"],
        )
        return Response(PriceQuoteSerializer(result).data)


class EventListApi(APIView):
    @extend_schema(responses={200: EventSerializer(many=True)}, summary="Upcoming events")
    def get(self, request):
        return Response(EventSerializer(selectors.event_list(), many=True).data)


# --- Trips and joining by a link -----------------------------------------------------------


def _spots_left(group, member_count: int) -> int:
    return max(0, group.max_members - member_count)


def _joinable(view: selectors.TripView, spots_left: int) -> bool:
    """A hint for the page's "Join" button; ``group_join_public`` has the last word."""
    membership = view.access.membership
    return (
        view.group.privacy == FriendGroup.Privacy.PUBLIC
        and view.trip.status == Trip.Status.PLANNING
        and spots_left > 0
        and (membership is None or membership.status == Membership.Status.LEFT)
    )


def _trip_detail(request, view: selectors.TripView) -> dict:
    """The trip as ``request.user`` may see it: travellers see the group and its members
    (the organiser also those waiting), anyone else a summary without names."""
    access = view.access
    answer = {
        "trip": view.trip,
        "max_members": view.group.max_members,
        "requires_approval": view.group.requires_approval,
        "me": access.membership,
    }
    if access.is_member:
        members = group_members(
            group=view.group, viewer=request.user, include_pending=access.is_organiser
        )
        count = sum(1 for m in members if m.status == Membership.Status.ACTIVE)
        answer |= {"view": "member", "group": view.group, "members": members}
    else:
        count = selectors.trip_member_counts(group_ids=[view.group.pk]).get(view.group.pk, 0)
        answer["view"] = "summary"
    spots_left = _spots_left(view.group, count)
    answer |= {
        "member_count": count,
        "spots_left": spots_left,
        "joinable": _joinable(view, spots_left),
    }
    return TripDetailSerializer(answer).data


class TripListApi(LoggedInApi):
    @extend_schema(
        responses={200: TripListItemSerializer(many=True), **errors(403)},
        summary="My trips (and those I wait to join), soonest first, with my role and status",
    )
    def get(self, request):
        rows = selectors.trips_for_user(user=request.user)
        counts = selectors.trip_member_counts(group_ids={trip.group_id for trip, _m in rows})
        items = [
            {
                "trip": trip,
                "member_count": counts.get(trip.group_id, 0),
                "spots_left": _spots_left(trip.group, counts.get(trip.group_id, 0)),
                "me": membership,
            }
            for trip, membership in rows
        ]
        return Response(TripListItemSerializer(items, many=True).data)

    @extend_schema(
        request=TripCreateSerializer,
        responses={201: TripDetailSerializer, **errors(400, 403, 404, 429)},
        summary="Plan a trip: for a new friend group I organise, or for one of my groups",
    )
    def post(self, request):
        data = TripCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        rate_limit(request, "trip_create")
        trip = services.trip_create(
            organiser=request.user,
            origin_code=values["origin"],
            destination_code=values["destination"] or None,
            event_slug=values["event"] or None,
            outbound_from=values["outbound_from"],
            outbound_to=values.get("outbound_to"),
            return_from=values.get("return_from"),
            return_to=values.get("return_to"),
            title=values["title"],
            group_id=values.get("group_id"),
            privacy=values["privacy"],
            requires_approval=values["requires_approval"],
            max_members=values.get("max_members"),
        )
        view = selectors.trip_get_for(user=request.user, trip_id=trip.pk)
        return Response(_trip_detail(request, view), status=status.HTTP_201_CREATED)


class TripDetailApi(Api):
    @extend_schema(
        responses={200: TripDetailSerializer, **errors(404)},
        summary="A trip: in full for its travellers, a summary for a public trip's visitors",
    )
    def get(self, request, trip_id: int):
        view = selectors.trip_get_for(user=request.user, trip_id=trip_id)
        return Response(_trip_detail(request, view))


class JoinApi(Api):
    @extend_schema(
        responses={200: InvitationPreviewSerializer, **errors(404, 410)},
        summary="What an invitation link leads to, before joining (anyone holding it)",
    )
    def get(self, request, token: str):
        invitation = invitation_check(token=token)
        group = invitation.group
        # One query for the organiser's name and the count; the names stay here.
        members = group_members(group=group, viewer=None)
        organiser = next((m for m in members if m.role == Membership.Role.ORGANISER), None)
        preview = {
            "group_id": group.pk,
            "name": group.name,
            "organiser_name": organiser.name if organiser else "",
            "member_count": len(members),
            "max_members": group.max_members,
            "spots_left": _spots_left(group, len(members)),
            "requires_approval": group.requires_approval,
            "personal": invitation.invitee_id is not None or bool(invitation.invitee_email),
            "expires_at": invitation.expires_at,
            "trips": selectors.group_trips(group_id=group.pk),
        }
        return Response(InvitationPreviewSerializer(preview).data)

    @extend_schema(
        request=None,
        responses={
            200: MembershipSerializer,
            201: MembershipSerializer,
            **errors(403, 404, 409, 410, 429),
        },
        summary="Join by an invitation link (active, or pending the organiser's approval)",
    )
    def post(self, request, token: str):
        if not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        rate_limit(request, "join")
        started = timezone.now()
        membership = invitation_accept(token=token, user=request.user)
        return membership_response(membership, started=started)


# --- Tickets: the inspector's check ---------------------------------------------------------


class TicketCheckTicketSerializer(serializers.Serializer):
    code = serializers.CharField()
    traveller = serializers.CharField()
    train = serializers.CharField()
    departs_at = serializers.DateTimeField()
    origin = serializers.CharField()
    destination = serializers.CharField()
    seat = serializers.CharField()
    leg = serializers.CharField(help_text="outbound or return")
    state = serializers.CharField(help_text="valid or cancelled")


class TicketCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    ticket = TicketCheckTicketSerializer()


class TicketVerifyApi(Api):
    """Anyone holding a ticket's signed code (its QR code) may check it: the signature is
    the secret. 400 for a forged or mistyped code, 404 for a ticket that is gone."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: TicketCheckSerializer, 400: _errors[400], 404: _errors[404]},
        summary="Check a ticket's signed code (its QR code)",
    )
    def get(self, request, signed: str):
        check = tickets.ticket_verify(signed=signed)
        data = {
            "valid": check.valid,
            "ticket": {
                "code": check.code,
                "traveller": check.traveller,
                "train": check.train,
                "departs_at": check.departs_at,
                "origin": check.origin,
                "destination": check.destination,
                "seat": check.seat,
                "leg": check.leg,
                "state": check.state,
            },
        }
        return Response(TicketCheckSerializer(data).data)
