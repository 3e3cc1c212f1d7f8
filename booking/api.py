"""The catalog API: thin views that validate input, call a selector and render output.
Errors are raised as domain errors and rendered once by ``core.api_errors``."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from booking import selectors
from booking.serializers import (
    DepartureDetailSerializer,
    DepartureSearchSerializer,
    DepartureSummarySerializer,
    EventSerializer,
    PriceQuerySerializer,
    PriceQuoteSerializer,
    StationQuerySerializer,
    StationSerializer,
)
from core.serializers import ErrorSerializer

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
