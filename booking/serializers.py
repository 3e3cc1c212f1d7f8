"""Input and output shapes of the booking API, and of the seat-map import."""

import datetime as dt

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from booking.models import ComfortClass, Deck, Facing, SeatPosition, Trip
from groups.models import FriendGroup
from groups.serializers import GroupSerializer, MemberSerializer, MembershipSerializer

# --- Input ---------------------------------------------------------------------------------


class StationQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=60, default="")


class DepartureSearchSerializer(serializers.Serializer):
    origin = serializers.RegexField(
        r"^[A-Za-z]{5}$",
        max_length=5,
        help_text=_("Station code, e.g. FRPLY."),
        error_messages={"invalid": _("A station code is five letters, e.g. FRPLY.")},
    )
    destination = serializers.RegexField(
        r"^[A-Za-z]{5}$",
        max_length=5,
        help_text=_("Station code, e.g. FRLPD."),
        error_messages={"invalid": _("A station code is five letters, e.g. FRLPD.")},
    )
    date = serializers.DateField(
        input_formats=["%Y-%m-%d"],
        help_text=_("Local date of departure, YYYY-MM-DD."),
        error_messages={"invalid": _("Use the date format YYYY-MM-DD.")},
    )


class PriceQuerySerializer(serializers.Serializer):
    fare_class = serializers.SlugField(max_length=20)
    passenger_type = serializers.SlugField(max_length=20, default="adult")
    age = serializers.IntegerField(min_value=0, max_value=120, required=False)
    card = serializers.SlugField(max_length=20, required=False, allow_blank=True, default="")
    card_number = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="", trim_whitespace=True
    )


class SeatImportSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=999)
    deck = serializers.ChoiceField(choices=Deck.choices, default=Deck.LOWER)
    row = serializers.IntegerField(min_value=1, max_value=99)
    column = serializers.IntegerField(min_value=0, max_value=9)
    position = serializers.ChoiceField(choices=SeatPosition.choices)
    facing = serializers.ChoiceField(choices=Facing.choices)
    table = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")
    comfort_class = serializers.ChoiceField(choices=ComfortClass.choices)


class CoachImportSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=99)
    double_deck = serializers.BooleanField(default=False)
    seats = SeatImportSerializer(many=True, allow_empty=False)

    def validate(self, attrs):
        numbers = [s["number"] for s in attrs["seats"]]
        if len(numbers) != len(set(numbers)):
            raise serializers.ValidationError(_("Two seats of this coach share a number."))
        places = [(s["deck"], s["row"], s["column"]) for s in attrs["seats"]]
        if len(places) != len(set(places)):
            raise serializers.ValidationError(_("Two seats of this coach share a place."))
        if not attrs["double_deck"] and any(s["deck"] == Deck.UPPER for s in attrs["seats"]):
            raise serializers.ValidationError(_("A single-deck coach has no upper deck."))
        return attrs


class SeatMapImportSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=60)
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    coaches = CoachImportSerializer(many=True, allow_empty=False)

    def validate_coaches(self, coaches):
        numbers = [c["number"] for c in coaches]
        if len(numbers) != len(set(numbers)):
            raise serializers.ValidationError(_("Two coaches share a number."))
        return coaches


# --- Output --------------------------------------------------------------------------------


class CatalogTextField(serializers.CharField):
    """Catalog text (fare names, conditions, venues) is stored in English, the source
    language; text the catalogue knows is shown in the request's language, operator text
    as it was typed."""

    def to_representation(self, value):
        return gettext(str(value))


class StationSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    city = serializers.CharField()
    time_zone = serializers.CharField()


class ClassAvailabilitySerializer(serializers.Serializer):
    comfort_class = serializers.ChoiceField(choices=ComfortClass.choices)
    label = serializers.CharField()
    seats_total = serializers.IntegerField()
    seats_left = serializers.IntegerField()
    price_from_cents = serializers.IntegerField(allow_null=True)


def _local(value: dt.datetime, station) -> str:
    return value.astimezone(station.zone).isoformat()


class DepartureSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="departure.id")
    service_number = serializers.CharField(source="departure.service_number")
    origin = StationSerializer(source="departure.origin")
    destination = StationSerializer(source="departure.destination")
    departs_at = serializers.SerializerMethodField(help_text=_("Local time at the origin."))
    arrives_at = serializers.SerializerMethodField(help_text=_("Local time at the destination."))
    duration_minutes = serializers.IntegerField(source="departure.duration_minutes")
    vehicle = serializers.CharField(source="departure.vehicle.name")
    currency = serializers.CharField()
    price_from_cents = serializers.IntegerField(allow_null=True)
    seats_left = serializers.IntegerField()
    classes = ClassAvailabilitySerializer(many=True)

    def get_departs_at(self, obj) -> str:
        return _local(obj.departure.departs_at, obj.departure.origin)

    def get_arrives_at(self, obj) -> str:
        return _local(obj.departure.arrives_at, obj.departure.destination)


class FareSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = CatalogTextField()
    comfort_class = serializers.ChoiceField(choices=ComfortClass.choices)
    refundable = serializers.BooleanField()
    refund_fee_cents = serializers.IntegerField()
    exchangeable = serializers.BooleanField()
    exchange_fee_cents = serializers.IntegerField()
    conditions = CatalogTextField()
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()


class SeatSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="seat.id")
    number = serializers.IntegerField(source="seat.number")
    row = serializers.IntegerField(source="seat.row")
    column = serializers.IntegerField(source="seat.column")
    position = serializers.ChoiceField(source="seat.position", choices=SeatPosition.choices)
    facing = serializers.ChoiceField(source="seat.facing", choices=Facing.choices)
    table = serializers.CharField(source="seat.table_group")
    comfort_class = serializers.ChoiceField(
        source="seat.comfort_class", choices=ComfortClass.choices
    )
    status = serializers.ChoiceField(choices=["free", "held", "sold"])


class DeckSerializer(serializers.Serializer):
    deck = serializers.ChoiceField(choices=Deck.choices)
    label = serializers.CharField()
    rows = serializers.IntegerField()
    columns = serializers.IntegerField()
    seats = SeatSerializer(many=True)


class CoachSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    comfort_classes = serializers.ListField(child=serializers.CharField())
    decks = DeckSerializer(many=True)


class DepartureDetailSerializer(serializers.Serializer):
    departure = DepartureSummarySerializer(source="summary")
    fares = FareSerializer(many=True)
    coaches = CoachSerializer(many=True)


class PriceQuoteSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    base_cents = serializers.IntegerField()
    fare_cents = serializers.IntegerField()
    uplift_percent = serializers.IntegerField()
    reduction_percent = serializers.IntegerField()
    reduction_source = serializers.CharField(allow_null=True)


class EventSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    kind = serializers.CharField()
    venue = CatalogTextField()
    station = StationSerializer()
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    description = CatalogTextField()


# --- Trips ---------------------------------------------------------------------------------


class TripCreateSerializer(serializers.Serializer):
    origin = serializers.RegexField(
        r"^[A-Za-z]{5}$",
        max_length=5,
        help_text=_("Station code, e.g. FRPLY."),
        error_messages={"invalid": _("A station code is five letters, e.g. FRPLY.")},
    )
    destination = serializers.RegexField(
        r"^[A-Za-z]{5}$",
        max_length=5,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Station code; leave empty when going to an event."),
        error_messages={"invalid": _("A station code is five letters, e.g. FRLPD.")},
    )
    event = serializers.SlugField(
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("An event's slug: its nearest station becomes the destination."),
    )
    outbound_from = serializers.DateField(input_formats=["%Y-%m-%d"])
    outbound_to = serializers.DateField(input_formats=["%Y-%m-%d"], required=False, allow_null=True)
    return_from = serializers.DateField(input_formats=["%Y-%m-%d"], required=False, allow_null=True)
    return_to = serializers.DateField(input_formats=["%Y-%m-%d"], required=False, allow_null=True)
    title = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    privacy = serializers.ChoiceField(
        choices=FriendGroup.Privacy.choices, default=FriendGroup.Privacy.PRIVATE
    )
    requires_approval = serializers.BooleanField(default=False)
    max_members = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=1000
    )
    group_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text=_("A group you organise: a new trip with the same friends."),
    )


class TripEventSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()


class TripSerializer(serializers.Serializer):
    """What anyone allowed to see a trip sees of it: route, dates, event. No people."""

    id = serializers.IntegerField()
    group_id = serializers.IntegerField()
    title = serializers.CharField()
    origin = StationSerializer()
    destination = StationSerializer()
    event = TripEventSerializer(allow_null=True)
    outbound_from = serializers.DateField()
    outbound_to = serializers.DateField()
    return_from = serializers.DateField(allow_null=True)
    return_to = serializers.DateField(allow_null=True)
    status = serializers.ChoiceField(choices=Trip.Status.choices)


class TripDetailSerializer(serializers.Serializer):
    """A trip as the caller may see it. ``view`` is ``member`` for its travellers (with
    ``group`` and ``members``; the organiser also sees who is waiting) and ``summary`` for
    anyone else allowed to see it (a public trip, or someone waiting for approval): then
    ``group`` and ``members`` are absent."""

    view = serializers.ChoiceField(choices=["member", "summary"])
    trip = TripSerializer()
    member_count = serializers.IntegerField()
    max_members = serializers.IntegerField()
    spots_left = serializers.IntegerField()
    requires_approval = serializers.BooleanField()
    joinable = serializers.BooleanField(
        help_text=_("Whether the caller may join this public trip without an invitation.")
    )
    group = GroupSerializer(required=False)
    members = MemberSerializer(many=True, required=False)
    me = MembershipSerializer(allow_null=True)


class TripListItemSerializer(serializers.Serializer):
    trip = TripSerializer()
    member_count = serializers.IntegerField()
    spots_left = serializers.IntegerField()
    me = MembershipSerializer()


class InvitationPreviewSerializer(serializers.Serializer):
    """What the holder of an invitation link sees before joining: no member list."""

    group_id = serializers.IntegerField()
    name = serializers.CharField()
    organiser_name = serializers.CharField(allow_blank=True)
    member_count = serializers.IntegerField()
    max_members = serializers.IntegerField()
    spots_left = serializers.IntegerField()
    requires_approval = serializers.BooleanField()
    personal = serializers.BooleanField(
        help_text=_("The invitation was sent to one person and works for them only.")
    )
    expires_at = serializers.DateTimeField()
    trips = TripSerializer(many=True)
