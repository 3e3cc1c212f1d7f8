"""Sit us together: the block finder on small seat maps, and the service that takes the
block at once."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking import errors, plan
from booking.models import AllocationState, Seat, SeatAllocation, SeatNeighbour, TripEvent
from booking.seating import FreeSeat, best_block, best_split
from tests import factories


def grid(rows: int, columns=(0, 1, 3, 4), tables=True, coach=1):
    """A 2+2 deck: tables of four on rows (1,2), (3,4)... per side."""
    seats, side, facing = [], {}, {}
    ident = coach * 1000
    by_place = {}
    for row in range(1, rows + 1):
        for column in columns:
            ident += 1
            table = f"{(row + 1) // 2}{'L' if column < 2 else 'R'}" if tables else ""
            seat = FreeSeat(ident, coach, "lower", row, column, table)
            seats.append(seat)
            by_place[(row, column)] = seat
    for (row, column), seat in by_place.items():
        right = by_place.get((row, column + 1))
        if right:
            side.setdefault(seat.id, set()).add(right.id)
            side.setdefault(right.id, set()).add(seat.id)
        if row % 2 == 1 and (row + 1, column) in by_place:
            other = by_place[(row + 1, column)]
            facing.setdefault(seat.id, set()).add(other.id)
            facing.setdefault(other.id, set()).add(seat.id)
    return seats, side, facing


def test_four_friends_get_a_whole_table():
    seats, side, facing = grid(4)
    block = best_block(seats, 4, side=side, facing=facing)
    assert block.tier == "table"
    chosen = [s for s in seats if s.id in block.seat_ids]
    assert len({s.table for s in chosen}) == 1


def test_two_friends_without_tables_sit_side_by_side():
    seats, side, facing = grid(3, tables=False)
    block = best_block(seats, 2, side=side, facing=facing)
    assert block.tier == "side_by_side"
    a, b = (s for s in seats if s.id in block.seat_ids)
    assert a.row == b.row and abs(a.column - b.column) == 1


def test_three_friends_without_tables_get_a_facing_cluster():
    seats, side, facing = grid(2, tables=False)
    block = best_block(seats, 3, side=side, facing=facing)
    assert block.tier == "facing"


def test_six_friends_fall_back_to_one_coach_in_the_fewest_rows():
    seats, side, facing = grid(6)
    block = best_block(seats, 6, side=side, facing=facing)
    assert block.tier == "coach"
    rows = {s.row for s in seats if s.id in block.seat_ids}
    assert max(rows) - min(rows) == 1  # two rows of four seats... six in rows 1-2


def test_no_coach_with_room_gives_none_and_a_split():
    first, *_ = grid(1, coach=1)
    second, *_ = grid(1, coach=2)
    free = first[:3] + second[:2]
    assert best_block(free, 5, side={}, facing={}) is None
    assert [len(group) for group in best_split(free, 5)] == [3, 2]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=6),
    n=st.integers(min_value=1, max_value=9),
    removed=st.sets(st.integers(min_value=0, max_value=23), max_size=12),
)
def test_a_block_is_always_n_distinct_free_seats_of_one_coach(rows, n, removed):
    seats, side, facing = grid(rows)
    free = [s for i, s in enumerate(seats) if i not in removed]
    block = best_block(free, n, side=side, facing=facing)
    if len(free) < n:
        assert block is None
        return
    assert block is not None
    assert len(set(block.seat_ids)) == n
    assert set(block.seat_ids) <= {s.id for s in free}


# --- The service ----------------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytest.mark.django_db
def test_sit_together_seats_everyone_without_a_seat_at_one_table_in_one_event():
    trip, people, (early, _late) = factories.planned_trip(travellers=4)
    version = trip.version
    event = plan.sit_together(
        trip_id=trip.pk, user=people[1], leg="outbound", departure_id=early.pk
    )
    assert event.kind == "seated_together" and event.version == version + 1
    assert event.payload["tier"] == "table"
    held = SeatAllocation.objects.filter(state=AllocationState.HELD).select_related("seat")
    assert sorted(h.user_id for h in held) == sorted(p.pk for p in people)
    assert len({h.seat.table_group for h in held}) == 1
    assert {h.seat.comfort_class for h in held} == {"second"}
    with pytest.raises(errors.NoBlockFits):  # everyone is seated now
        plan.sit_together(trip_id=trip.pk, user=people[1], leg="outbound", departure_id=early.pk)
    assert TripEvent.objects.filter(trip=trip).count() == version + 1


@pytest.mark.django_db
def test_sit_together_keeps_each_traveller_in_their_class_and_skips_the_seated():
    trip, (olivia, ana, ben), (early, _late) = factories.planned_trip(travellers=3)
    plan.fare_choose(trip_id=trip.pk, user=olivia, leg="outbound", fare_class_code="flex-1")
    lone = Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second").last()
    plan.seat_pick(
        trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk, seat_id=lone.pk
    )
    event = plan.sit_together(trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk)
    holds = {h["user_id"]: h for h in event.payload["holds"]}
    assert set(holds) == {olivia.pk, ana.pk}
    assert Seat.objects.get(pk=holds[olivia.pk]["seat_id"]).comfort_class == "first"
    assert Seat.objects.get(pk=holds[ana.pk]["seat_id"]).comfort_class == "second"


@pytest.mark.django_db
def test_when_no_block_fits_nothing_is_taken_and_a_split_is_proposed():
    trip, people, (early, _late) = factories.planned_trip(travellers=4)
    second = list(Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second"))
    factories.sell(early, second[:-3])  # three seats left for four friends
    before = SeatAllocation.objects.count()
    with pytest.raises(errors.NoBlockFits) as exc:
        plan.sit_together(trip_id=trip.pk, user=people[0], leg="outbound", departure_id=early.pk)
    assert "split" in exc.value.fields
    assert SeatAllocation.objects.count() == before
    assert not SeatNeighbour.objects.none().exists()
