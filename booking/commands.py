"""The live plan's command table: the one way in for every change, whichever door it came
by (the REST API ``booking.plan_api``, the websocket ``booking.consumers``, the forms of
``frontend.views_trips.plan_action``).

A command is a name, one input serializer (``booking.plan_serializers``: the request's
shape, types and bounds) and the ``booking.plan`` service it calls. ``command_run``
counts the command against the person's rate limit, validates its input and calls the
service, so the same bad input gets the same refusal through every door: ``invalid``
with ``fields`` for a bad shape (``core.api_errors.invalid_input``), ``unknown_command``,
``rate_limited`` or the service's own domain code. The rules of the plan itself (who may,
which train, which seat) stay the services'.

The rate limit is one per person (per user id, counted in the shared cache with
django-ratelimit, ``SIDEBYSIDE["RATE_PLAN"]``): switching doors or reconnecting a socket
does not start it again.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from booking import plan
from booking.models import TripEvent
from booking.plan_serializers import (
    FareChooseSerializer,
    LegQuerySerializer,
    PollProposeSerializer,
    SeatPickSerializer,
    SettleSerializer,
    SitTogetherSerializer,
    VoteSerializer,
)
from core.api_errors import invalid_input
from core.errors import InvalidInput
from groups.ratelimits import user_rate_limit


class UnknownCommand(InvalidInput):
    code = "unknown_command"
    default_message = _("Unknown command.")


@dataclass(frozen=True)
class Command:
    serializer: type[serializers.Serializer]
    # (trip_id, user, validated data) → the event the change appended.
    service: Callable[..., TripEvent]


def _propose(*, trip_id: int, user, data: dict) -> TripEvent:
    return plan.poll_propose(
        trip_id=trip_id, by=user, leg=data["leg"], departure_ids=data["departure_ids"]
    )


def _vote(*, trip_id: int, user, data: dict) -> TripEvent:
    return plan.poll_vote(
        trip_id=trip_id, user=user, leg=data["leg"], departure_id=data["departure_id"]
    )


def _settle(*, trip_id: int, user, data: dict) -> TripEvent:
    return plan.poll_settle(
        trip_id=trip_id, by=user, leg=data["leg"], departure_id=data["departure_id"]
    )


def _choose_fare(*, trip_id: int, user, data: dict) -> TripEvent:
    return plan.fare_choose(
        trip_id=trip_id,
        user=user,
        leg=data["leg"],
        fare_class_code=data["fare_class"],
        passenger_type_code=data["passenger_type"],
        age=data.get("age"),
        card_code=data["card"],
        card_number=data["card_number"],
    )


def _pick_seat(*, trip_id: int, user, data: dict) -> TripEvent:
    return plan.seat_pick(
        trip_id=trip_id,
        user=user,
        leg=data["leg"],
        seat_id=data["seat_id"],
        departure_id=data.get("departure_id"),
    )


def _release_seat(*, trip_id: int, user, data: dict) -> TripEvent:
    return plan.seat_release(trip_id=trip_id, user=user, leg=data["leg"])


def _sit_together(*, trip_id: int, user, data: dict) -> TripEvent:
    return plan.sit_together(
        trip_id=trip_id, user=user, leg=data["leg"], departure_id=data.get("departure_id")
    )


COMMANDS: dict[str, Command] = {
    "propose": Command(PollProposeSerializer, _propose),
    "vote": Command(VoteSerializer, _vote),
    "settle": Command(SettleSerializer, _settle),
    "choose_fare": Command(FareChooseSerializer, _choose_fare),
    "pick_seat": Command(SeatPickSerializer, _pick_seat),
    "release_seat": Command(LegQuerySerializer, _release_seat),
    "sit_together": Command(SitTogetherSerializer, _sit_together),
}


def command_get(name) -> Command:
    command = COMMANDS.get(name) if isinstance(name, str) else None
    if command is None:
        raise UnknownCommand(_("Unknown command: %(type)s.") % {"type": str(name)[:40]})
    return command


def command_list_params(name) -> frozenset[str]:
    """The parameters of command ``name`` that take a list (none for an unknown one): what
    a door whose fields are all strings (an HTML form) needs to know of a command."""
    command = COMMANDS.get(name) if isinstance(name, str) else None
    if command is None:
        return frozenset()
    fields = command.serializer().fields.items()
    return frozenset(key for key, field in fields if isinstance(field, serializers.ListField))


def command_rate_limit(*, user) -> None:
    """Count one command of ``user``; past ``SIDEBYSIDE["RATE_PLAN"]`` raise
    ``RateLimited`` (with the seconds left in the window as ``retry_after``)."""
    user_rate_limit(user=user, group="sidebyside.plan", rate=settings.SIDEBYSIDE["RATE_PLAN"])


def command_outcome(event: TripEvent | None) -> str:
    """What to tell the person whose command made ``event``, when it depends on what
    happened (every door says the same): "Sit us together" says "together" only when it
    is true (``booking.seating.outcome_text``). Empty: the door's own words."""
    from booking.seating import outcome_text

    if event is not None and event.kind == "seated_together":
        return str(outcome_text(event.payload.get("tier", ""), event.payload.get("with_group")))
    return ""


def command_run(name, *, trip_id: int, user, data: Mapping) -> TripEvent:
    """Run one command of the live plan for ``user``: rate limit, input, service. Every
    refusal is a domain error and writes nothing (the service's transaction rolls back)."""
    command_rate_limit(user=user)
    command = command_get(name)
    serializer = command.serializer(data=data)
    if not serializer.is_valid():
        raise invalid_input(serializer.errors)
    return command.service(trip_id=trip_id, user=user, data=serializer.validated_data)
