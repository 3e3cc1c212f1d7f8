"""Writes to the catalog. Each function runs in one transaction."""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from booking.errors import SeatMapInUse, SeatMapInvalid
from booking.models import Coach, Departure, Facing, NeighbourKind, Seat, SeatNeighbour, Vehicle


def _neighbour_pairs(seats: list[Seat]) -> list[tuple[Seat, Seat, str]]:
    """Derive neighbours from geometry, so the seat map has one source of truth:
    side by side = same coach, deck and row, adjacent columns (the aisle is a column);
    facing = same coach, deck and column, consecutive rows, the front one facing backward
    and the rear one facing forward."""
    by_place = {(s.coach_id, s.deck, s.row, s.column): s for s in seats}
    pairs = []
    for seat in seats:
        right = by_place.get((seat.coach_id, seat.deck, seat.row, seat.column + 1))
        if right is not None:
            pairs.append((seat, right, NeighbourKind.SIDE_BY_SIDE))
        behind = by_place.get((seat.coach_id, seat.deck, seat.row + 1, seat.column))
        if (
            behind is not None
            and seat.facing == Facing.BACKWARD
            and behind.facing == Facing.FORWARD
        ):
            pairs.append((seat, behind, NeighbourKind.FACING))
    return pairs


def _canonical(vehicle: Vehicle) -> dict:
    coaches = []
    for coach in vehicle.coaches.prefetch_related("seats").order_by("number"):
        seats = sorted(
            (
                {
                    "number": s.number,
                    "deck": s.deck,
                    "row": s.row,
                    "column": s.column,
                    "position": s.position,
                    "facing": s.facing,
                    "table": s.table_group,
                    "comfort_class": s.comfort_class,
                }
                for s in coach.seats.all()
            ),
            key=lambda s: s["number"],
        )
        coaches.append({"number": coach.number, "double_deck": coach.double_deck, "seats": seats})
    return {"coaches": coaches}


def _canonical_input(data: dict) -> dict:
    coaches = []
    for coach in sorted(data["coaches"], key=lambda c: c["number"]):
        seats = sorted(
            (
                {
                    "number": s["number"],
                    "deck": s.get("deck", "lower"),
                    "row": s["row"],
                    "column": s["column"],
                    "position": s["position"],
                    "facing": s["facing"],
                    "table": s.get("table", ""),
                    "comfort_class": s["comfort_class"],
                }
                for s in coach["seats"]
            ),
            key=lambda s: s["number"],
        )
        coaches.append(
            {
                "number": coach["number"],
                "double_deck": coach.get("double_deck", False),
                "seats": seats,
            }
        )
    return {"coaches": coaches}


@transaction.atomic
def vehicle_import(*, data: dict) -> tuple[Vehicle, str]:
    """Create or replace a vehicle's seat map from validated import data (see
    ``booking.serializers.SeatMapImportSerializer`` and docs/seat-maps.md).

    Returns the vehicle and what happened: ``created``, ``unchanged`` or ``replaced``.
    Importing the same map again changes nothing; a different map for a vehicle that
    already runs departures is refused, because sold seats must keep their meaning.
    """
    vehicle = Vehicle.objects.select_for_update().filter(code=data["code"]).first()
    outcome = "created"
    if vehicle is not None:
        if _canonical(vehicle) == _canonical_input(data):
            changed = vehicle.name != data["name"] or vehicle.description != data.get(
                "description", ""
            )
            if changed:
                vehicle.name = data["name"]
                vehicle.description = data.get("description", "")
                vehicle.save(update_fields=["name", "description"])
            return vehicle, "unchanged"
        if vehicle.departure_set.exists():
            raise SeatMapInUse()
        vehicle.coaches.all().delete()
        vehicle.name = data["name"]
        vehicle.description = data.get("description", "")
        vehicle.save(update_fields=["name", "description"])
        outcome = "replaced"
    else:
        vehicle = Vehicle.objects.create(
            code=data["code"], name=data["name"], description=data.get("description", "")
        )
    seats: list[Seat] = []
    try:
        for coach_data in data["coaches"]:
            coach = Coach.objects.create(
                vehicle=vehicle,
                number=coach_data["number"],
                double_deck=coach_data.get("double_deck", False),
            )
            seats.extend(
                Seat(
                    coach=coach,
                    number=s["number"],
                    deck=s.get("deck", "lower"),
                    row=s["row"],
                    column=s["column"],
                    position=s["position"],
                    facing=s["facing"],
                    table_group=s.get("table", ""),
                    comfort_class=s["comfort_class"],
                )
                for s in coach_data["seats"]
            )
        with transaction.atomic():
            seats = Seat.objects.bulk_create(seats, batch_size=500)
    except IntegrityError as exc:
        raise SeatMapInvalid(
            _("Two coaches or seats share a number or a place: %(detail)s") % {"detail": exc}
        ) from exc
    _neighbours_store(seats)
    return vehicle, outcome


def _neighbours_store(seats: list[Seat]) -> None:
    links = []
    for seat, other, kind in _neighbour_pairs(seats):
        links.append(SeatNeighbour(seat=seat, neighbour=other, kind=kind))
        links.append(SeatNeighbour(seat=other, neighbour=seat, kind=kind))
    SeatNeighbour.objects.bulk_create(links, batch_size=1000)


@transaction.atomic
def coach_neighbours_rebuild(*, coach: Coach) -> None:
    """Derive a coach's neighbours again after its seats were edited by hand (admin)."""
    SeatNeighbour.objects.filter(seat__coach=coach).delete()
    _neighbours_store(list(coach.seats.all()))


@transaction.atomic
def departures_cancel(*, departure_ids: list[int]) -> list[Departure]:
    """Cancel the scheduled departures among ``departure_ids``; returns those it cancelled.
    Rows are locked in id order (no deadlock with another cancel), and one already
    cancelled is left alone, so running it twice changes nothing. Later issues release the
    trips' holds and refund their members here."""
    departures = list(
        Departure.objects.select_for_update()
        .filter(pk__in=departure_ids, status=Departure.Status.SCHEDULED)
        .order_by("pk")
    )
    Departure.objects.filter(pk__in=[d.pk for d in departures]).update(
        status=Departure.Status.CANCELLED
    )
    return departures
