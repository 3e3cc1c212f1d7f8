"""Input and output shapes of the live plan (``booking.commands``, ``booking.plan_api``).

Input serializers check the shape of a command (types, bounds, the leg's name) for every
door: the command table (``booking.commands``) validates the REST API's, the websocket's
and the forms' input with them. The rules of the plan itself (who may, which train, which
seat) are the services' (``booking.plan``), so every door refuses the same thing with the
same code.

The output serializers document what the selectors and ``booking.live.event_message``
already return as plain values: the REST answers are those same dicts, so a client gets
exactly what the websocket sends (see docs/live-protocol.md).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from booking.models import AllocationState, ComfortClass, Trip, TripLeg
from groups.models import Membership

# Ids: positive, and small enough for any database and any JSON client.
MAX_ID = 2**53 - 1


def _id(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def _leg() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=TripLeg.Direction.choices, help_text=_("The trip's leg: outbound or return.")
    )


# --- Input ---------------------------------------------------------------------------------


class PlanEventsQuerySerializer(serializers.Serializer):
    since = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ID,
        help_text=_("The last version the client has seen."),
    )


class LegQuerySerializer(serializers.Serializer):
    leg = _leg()


class PollProposeSerializer(serializers.Serializer):
    leg = _leg()
    # The service checks the count (2 to 5) so that both doors answer ``poll_invalid``;
    # this bound only keeps a request small.
    departure_ids = serializers.ListField(
        child=_id(),
        max_length=10,
        help_text=_("The candidate departures, 2 to 5, in the order to show them."),
    )


class VoteSerializer(serializers.Serializer):
    leg = _leg()
    departure_id = _id(
        allow_null=True, help_text=_("One of the leg's options; null takes the vote back.")
    )


class SettleSerializer(serializers.Serializer):
    leg = _leg()
    departure_id = _id(help_text=_("The option the leg travels on."))


class FareChooseSerializer(serializers.Serializer):
    leg = _leg()
    fare_class = serializers.SlugField(max_length=20)
    passenger_type = serializers.SlugField(max_length=20, default="adult")
    age = serializers.IntegerField(min_value=0, max_value=120, required=False, allow_null=True)
    card = serializers.SlugField(max_length=20, required=False, allow_blank=True, default="")
    card_number = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="", trim_whitespace=True
    )


class SeatPickSerializer(serializers.Serializer):
    leg = _leg()
    departure_id = _id(
        required=False,
        allow_null=True,
        help_text=_("Before the poll is settled: which option's train. After: may be left out."),
    )
    seat_id = _id()


class SitTogetherSerializer(serializers.Serializer):
    leg = _leg()
    departure_id = _id(
        required=False,
        allow_null=True,
        help_text=_("Before the poll is settled: which option's train. After: may be left out."),
    )


class WatchDepartureSerializer(serializers.Serializer):
    """The websocket's ``watch_departure`` (not a change of the plan: no command)."""

    departure_id = _id()


# --- Output: one event, as the websocket sends it ---------------------------------------------


class PlanEventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["event"])
    version = serializers.IntegerField(help_text=_("The trip's version after this event."))
    kind = serializers.CharField(
        help_text=_("seat_held, vote_cast, poll_settled, … (docs/live-protocol.md lists them).")
    )
    payload = serializers.DictField(help_text=_("Plain values; their fields depend on kind."))
    actor = serializers.IntegerField(allow_null=True, help_text=_("Who did it, when someone did."))
    at = serializers.DateTimeField(allow_null=True)


class PlanChangeSerializer(serializers.Serializer):
    """The answer to a change: the trip's new version and the event every member gets."""

    version = serializers.IntegerField()
    event = PlanEventSerializer()


class PlanEventsSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        help_text=_("The version the client is at once it has applied these events.")
    )
    events = PlanEventSerializer(many=True)


# --- Output: the snapshot (``booking.plan_selectors.plan_snapshot``) --------------------------


class PlanStationSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class PlanTripEventSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class PlanTripSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=Trip.Status.choices)
    origin = PlanStationSerializer()
    destination = PlanStationSerializer()
    event = PlanTripEventSerializer(allow_null=True)
    outbound_from = serializers.DateField()
    outbound_to = serializers.DateField(allow_null=True)
    return_from = serializers.DateField(allow_null=True)
    return_to = serializers.DateField(allow_null=True)


class PlanMeSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    shares_details = serializers.BooleanField()


class PlanMemberSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    avatar_url = serializers.CharField(allow_blank=True)
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    online = serializers.BooleanField()
    details_visible = serializers.BooleanField(
        help_text=_("Whether their fare, card, age and price are in this snapshot.")
    )


class PlanDepartureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    service_number = serializers.CharField()
    departs_at = serializers.DateTimeField()
    arrives_at = serializers.DateTimeField()
    status = serializers.CharField(help_text=_("scheduled or cancelled."))


class PlanPriceSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()


class PlanOptionSerializer(serializers.Serializer):
    departure = PlanDepartureSerializer()
    votes = serializers.ListField(child=serializers.IntegerField(), help_text=_("User ids."))
    prices = serializers.DictField(
        child=PlanPriceSerializer(allow_null=True),
        help_text=_("User id → their price on this train (only those whose details you see)."),
    )


class PlanSeatSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    departure_id = serializers.IntegerField()
    seat_id = serializers.IntegerField()
    label = serializers.CharField(help_text=_('Coach and seat number, e.g. "2-064".'))
    comfort_class = serializers.ChoiceField(choices=ComfortClass.choices)
    state = serializers.ChoiceField(choices=[AllocationState.HELD, AllocationState.SOLD])


class PlanFareSerializer(serializers.Serializer):
    fare_class = serializers.CharField()
    comfort_class = serializers.ChoiceField(choices=ComfortClass.choices)
    passenger_type = serializers.CharField()
    card = serializers.CharField(allow_null=True)
    card_number_end = serializers.CharField(
        allow_null=True, help_text=_("The card number's last four digits only.")
    )
    age = serializers.IntegerField(allow_null=True)
    price = PlanPriceSerializer(allow_null=True)


class PlanLegSerializer(serializers.Serializer):
    # The same values as the requests' ``leg`` (a second enum of them would only rename it).
    direction = serializers.CharField(help_text=_("outbound or return."))
    departure = PlanDepartureSerializer(allow_null=True, help_text=_("Once the poll is settled."))
    options = PlanOptionSerializer(many=True)
    seats = PlanSeatSerializer(many=True)
    fares = serializers.DictField(
        child=PlanFareSerializer(),
        help_text=_("User id → their fare (only those whose details you see)."),
    )


class PlanSnapshotSerializer(serializers.Serializer):
    """The plan as the caller may see it: the same snapshot the websocket sends first."""

    type = serializers.ChoiceField(choices=["snapshot"])
    version = serializers.IntegerField()
    trip = PlanTripSerializer()
    me = PlanMeSerializer()
    members = PlanMemberSerializer(many=True)
    legs = PlanLegSerializer(many=True)
