"""The operator's REST door for disruptions (a traffic feed, a control room's tool):
cancel a departure, announce its delay (expected, then actual arrival), swap its vehicle,
and read a departure's disruptions with their history. Staff with the permission to
change departures only (anyone else: 403). The same services as the admin's actions
(``booking.disruptions``): repeating a call changes nothing and answers ``changed:
false``."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from booking import disruption_selectors, disruptions
from booking.errors import DepartureNotFound, TripNotFound
from booking.models import Departure, Disruption
from booking.selectors import trip_get_for
from core.api import Api, LoggedInApi, errors


class IsDepartureOperator(BasePermission):
    """Staff who may change departures (``booking.change_departure``)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_staff
            and user.has_perm("booking.change_departure")
        )


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class DelayIn(ReasonIn):
    expected_arrival_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    actual_arrival_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        if attrs["expected_arrival_at"] is None and attrs["actual_arrival_at"] is None:
            raise serializers.ValidationError(
                {"expected_arrival_at": ["Give the expected or the actual arrival."]}
            )
        return attrs


class VehicleSwapIn(ReasonIn):
    vehicle_id = serializers.IntegerField(min_value=1)


class DisruptionChangeOut(serializers.Serializer):
    what = serializers.CharField()
    data = serializers.DictField()
    at = serializers.DateTimeField()


class DisruptionOut(serializers.Serializer):
    id = serializers.IntegerField()
    departure_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Disruption.Kind.choices)
    reason = serializers.CharField()
    expected_arrival_at = serializers.DateTimeField(allow_null=True)
    actual_arrival_at = serializers.DateTimeField(allow_null=True)
    delay_minutes = serializers.IntegerField(allow_null=True)
    new_vehicle_id = serializers.IntegerField(allow_null=True)
    choose_by = serializers.DateTimeField(allow_null=True)
    trips_pending = serializers.IntegerField()
    trips_done = serializers.IntegerField()
    changes = DisruptionChangeOut(many=True)


class DisruptionResultOut(serializers.Serializer):
    changed = serializers.BooleanField(help_text="False: it was already so; nothing changed.")
    disruption = DisruptionOut(allow_null=True)


def _out(disruption: Disruption | None) -> dict | None:
    if disruption is None:
        return None
    view = disruption_selectors.disruption_view(disruption_id=disruption.pk)
    return DisruptionOut(view).data


class _OperatorApi(Api):
    permission_classes = [IsDepartureOperator]

    def _answer(self, disruption, changed: bool) -> Response:
        return Response(
            DisruptionResultOut({"changed": changed, "disruption": _out(disruption)}).data
        )


class DepartureCancelApi(_OperatorApi):
    @extend_schema(
        operation_id="staff_departure_cancel",
        request=ReasonIn,
        responses={200: DisruptionResultOut, **errors(400, 403, 404)},
    )
    def post(self, request, departure_id: int):
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        disruption, changed = disruptions.departure_cancel(
            departure_id=departure_id, reason=data.validated_data["reason"], by=request.user
        )
        return self._answer(disruption, changed)


class DepartureDelayApi(_OperatorApi):
    @extend_schema(
        operation_id="staff_departure_delay",
        request=DelayIn,
        responses={200: DisruptionResultOut, **errors(400, 403, 404, 409)},
    )
    def post(self, request, departure_id: int):
        data = DelayIn(data=request.data)
        data.is_valid(raise_exception=True)
        disruption, changed = disruptions.departure_delay(
            departure_id=departure_id, by=request.user, **data.validated_data
        )
        return self._answer(disruption, changed)


class DepartureVehicleSwapApi(_OperatorApi):
    @extend_schema(
        operation_id="staff_departure_vehicle_swap",
        request=VehicleSwapIn,
        responses={200: DisruptionResultOut, **errors(400, 403, 404, 409)},
    )
    def post(self, request, departure_id: int):
        data = VehicleSwapIn(data=request.data)
        data.is_valid(raise_exception=True)
        disruption, changed = disruptions.departure_vehicle_swap(
            departure_id=departure_id, by=request.user, **data.validated_data
        )
        return self._answer(disruption, changed)


class DepartureDisruptionsApi(_OperatorApi):
    @extend_schema(
        operation_id="staff_departure_disruptions",
        responses={200: DisruptionOut(many=True), **errors(403, 404)},
    )
    def get(self, request, departure_id: int):
        if not Departure.objects.filter(pk=departure_id).exists():
            raise DepartureNotFound()
        views = disruption_selectors.disruptions_of(departure_id=departure_id)
        return Response(DisruptionOut(views, many=True).data)


# --- The travellers' re-routing (a cancelled train): the same services as the banner ----------


class AlternativeOut(serializers.Serializer):
    departure_id = serializers.IntegerField(source="departure.pk")
    service_number = serializers.CharField(source="departure.service_number")
    departs_at = serializers.DateTimeField(source="departure.departs_at")
    arrives_at = serializers.DateTimeField(source="departure.arrives_at")
    together = serializers.BooleanField(help_text="A block seats each class together.")
    free_seats = serializers.IntegerField()


class RerouteOut(serializers.Serializer):
    proposed_departure_id = serializers.IntegerField(allow_null=True)
    alternatives = AlternativeOut(many=True)


class RerouteIn(serializers.Serializer):
    departure_id = serializers.IntegerField(min_value=1)


class TicketsIssuedOut(serializers.Serializer):
    ticket_ids = serializers.ListField(child=serializers.IntegerField())


class TripRerouteApi(LoggedInApi):
    @extend_schema(
        operation_id="trip_reroute_read",
        responses={200: RerouteOut, **errors(403, 404)},
        summary="The train proposed instead of a cancelled one, or the best alternatives",
    )
    def get(self, request, trip_id: int, disruption_id: int):
        view = trip_get_for(user=request.user, trip_id=trip_id)
        if not view.access.is_member:
            raise TripNotFound()
        trip = view.trip
        proposed = disruption_selectors.reroute_proposed(trip=trip, disruption_id=disruption_id)
        alternatives = (
            []
            if proposed
            else disruption_selectors.reroute_alternatives(trip=trip, disruption_id=disruption_id)
        )
        return Response(
            RerouteOut({"proposed_departure_id": proposed, "alternatives": alternatives}).data
        )

    @extend_schema(
        operation_id="trip_reroute_propose",
        request=RerouteIn,
        responses={200: RerouteOut, **errors(400, 403, 404, 409)},
        summary="Propose the train the group takes instead (the organiser first)",
        description=(
            "The first proposal wins: a second one gets 409 reroute_already_proposed. "
            "409 reroute_organiser_first, train_full; 400 departure_not_bookable (cancelled "
            "or left), reroute_wrong_route."
        ),
    )
    def post(self, request, trip_id: int, disruption_id: int):
        data = RerouteIn(data=request.data)
        data.is_valid(raise_exception=True)
        reroute = disruptions.reroute_propose(
            trip_id=trip_id,
            disruption_id=disruption_id,
            departure_id=data.validated_data["departure_id"],
            by=request.user,
        )
        return Response(
            RerouteOut({"proposed_departure_id": reroute.departure_id, "alternatives": []}).data
        )


class TicketRerouteApi(LoggedInApi):
    @extend_schema(
        operation_id="ticket_reroute_accept",
        request=None,
        responses={200: TicketsIssuedOut, **errors(403, 404, 409)},
        summary="Take the proposed train for my ticket (instead of the refund)",
    )
    def post(self, request, ticket_id: int):
        choice = disruptions.reroute_accept(ticket_id=ticket_id, by=request.user)
        return Response(TicketsIssuedOut({"ticket_ids": [choice.ticket_id]}).data)


class TripRerouteSeatApi(LoggedInApi):
    @extend_schema(
        operation_id="trip_reroute_seat",
        request=None,
        responses={200: TicketsIssuedOut, **errors(403, 404, 409)},
        summary="Sit us together on the new train: new tickets for those who took it",
    )
    def post(self, request, trip_id: int):
        issued = disruptions.reroute_seat(trip_id=trip_id, by=request.user)
        return Response(TicketsIssuedOut({"ticket_ids": [t.pk for t in issued]}).data)
