import json
from collections import Counter, defaultdict

import pytest

from booking import seatmaps, selectors
from booking.models import ComfortClass, Facing, NeighbourKind, Seat, SeatNeighbour
from booking.services import vehicle_import


@pytest.fixture
def duplex():
    data = seatmaps.duplex_seat_map(
        code="duplex-test", name="Duplex", first_class_coaches=1, second_class_coaches=2
    )
    return vehicle_import(data=data)[0]


def seats_of(vehicle) -> dict[int, Seat]:
    return {s.id: s for s in Seat.objects.filter(coach__vehicle=vehicle).select_related("coach")}


def links_of(vehicle, kind: str) -> list[tuple[Seat, Seat]]:
    seats = seats_of(vehicle)
    return [
        (seats[a], seats[b])
        for a, b in SeatNeighbour.objects.filter(
            seat__coach__vehicle=vehicle, kind=kind
        ).values_list("seat_id", "neighbour_id")
    ]


def test_builder_makes_realistic_double_deck_coaches():
    data = seatmaps.duplex_seat_map(
        code="t", name="T", first_class_coaches=2, second_class_coaches=5
    )

    assert [c["number"] for c in data["coaches"]] == list(range(1, 8))
    for coach in data["coaches"]:
        seats = coach["seats"]
        classes = {s["comfort_class"] for s in seats}
        assert len(classes) == 1
        if classes == {"first"}:
            assert 40 <= len(seats) <= 50
            assert {s["column"] for s in seats} == {0, 1, 3}
        else:
            assert 60 <= len(seats) <= 80
            assert {s["column"] for s in seats} == {0, 1, 3, 4}
        assert coach["double_deck"] is True
        numbers = [s["number"] for s in seats]
        assert len(numbers) == len(set(numbers))
        lower = sorted(s["number"] for s in seats if s["deck"] == "lower")
        upper = sorted(s["number"] for s in seats if s["deck"] == "upper")
        assert lower[0] == 1 and lower[-1] < 61
        assert upper[0] == 61
        # Every map the builder makes passes the import's own validation.
    assert seatmaps.seat_map_read(raw=json.dumps(data))["code"] == "t"


def test_example_file_is_the_builders_two_coach_map():
    text = seatmaps.example_path().read_text()

    assert json.loads(text) == seatmaps.example_seat_map()
    assert text == seatmaps.example_json()


@pytest.mark.django_db
def test_side_by_side_pairs_are_in_one_row_and_never_cross_the_aisle(duplex):
    pairs = links_of(duplex, NeighbourKind.SIDE_BY_SIDE)

    assert pairs
    for seat, other in pairs:
        assert (seat.coach_id, seat.deck, seat.row) == (other.coach_id, other.deck, other.row)
        assert abs(seat.column - other.column) == 1
        assert (seat.column < seatmaps.AISLE_COLUMN) == (other.column < seatmaps.AISLE_COLUMN)


@pytest.mark.django_db
def test_facing_pairs_sit_across_a_table(duplex):
    pairs = links_of(duplex, NeighbourKind.FACING)
    table_sizes = Counter(
        Seat.objects.filter(coach__vehicle=duplex)
        .exclude(table_group="")
        .values_list("coach_id", "table_group")
    )

    assert pairs
    for seat, other in pairs:
        assert seat.table_group and seat.table_group == other.table_group
        assert seat.coach_id == other.coach_id and seat.column == other.column
        assert abs(seat.row - other.row) == 1
        front, rear = sorted((seat, other), key=lambda s: s.row)
        assert (front.facing, rear.facing) == (Facing.BACKWARD, Facing.FORWARD)
        size = table_sizes[(seat.coach_id, seat.table_group)]
        if seat.comfort_class == ComfortClass.SECOND:
            assert size == 4
        else:  # first class: a table of four by the pair, a table of two by the solo seat
            assert size == (4 if seat.column < seatmaps.AISLE_COLUMN else 2)


@pytest.mark.django_db
def test_seats_without_a_table_face_nobody(duplex):
    facing_ids = {s.id for pair in links_of(duplex, NeighbourKind.FACING) for s in pair}
    at_tables = set(
        Seat.objects.filter(coach__vehicle=duplex)
        .exclude(table_group="")
        .values_list("id", flat=True)
    )

    assert facing_ids == at_tables


@pytest.mark.django_db
def test_same_table_gives_the_three_others_at_a_table_of_four(duplex):
    second = Seat.objects.filter(coach__vehicle=duplex, comfort_class=ComfortClass.SECOND).exclude(
        table_group=""
    )

    assert second.exists()
    for seat in second:
        others = selectors.seats_at_same_table(seat=seat)
        assert len(others) == 3
        assert {o.table_group for o in others} == {seat.table_group}
        assert {o.coach_id for o in others} == {seat.coach_id}
        assert {(o.deck, o.column < seatmaps.AISLE_COLUMN) for o in others} == {
            (seat.deck, seat.column < seatmaps.AISLE_COLUMN)
        }
        side = {n.id for n in selectors.seat_neighbours(seat=seat, kind=NeighbourKind.SIDE_BY_SIDE)}
        facing = {n.id for n in selectors.seat_neighbours(seat=seat, kind=NeighbourKind.FACING)}
        assert len(side) == 1 and len(facing) == 1
        assert side | facing <= {o.id for o in others}


@pytest.mark.django_db
def test_second_class_seats_have_at_most_one_side_neighbour_each_side(duplex):
    per_side: dict[tuple[int, int], int] = defaultdict(int)
    for seat, other in links_of(duplex, NeighbourKind.SIDE_BY_SIDE):
        per_side[(seat.id, other.column - seat.column)] += 1
    second = Seat.objects.filter(coach__vehicle=duplex, comfort_class=ComfortClass.SECOND)

    assert all(count <= 1 for count in per_side.values())
    for seat in second:
        left, right = per_side[(seat.id, -1)], per_side[(seat.id, 1)]
        # 2+2: every second-class seat has exactly one side-by-side neighbour.
        assert left + right == 1


@pytest.mark.django_db
def test_neighbour_links_are_symmetric(duplex):
    links = set(
        SeatNeighbour.objects.filter(seat__coach__vehicle=duplex).values_list(
            "seat_id", "neighbour_id", "kind"
        )
    )

    assert links
    assert {(b, a, kind) for a, b, kind in links} == links
