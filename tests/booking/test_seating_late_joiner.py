"""A late joiner sits with the group (issue 22, point 3): "Sit us together" for members
still without a seat looks next to the friends already seated (same table, then side by
side, then facing, then their coach in the nearest rows) before any new block, and its
answer says "together" only when it is true."""

import pytest
from django.utils import translation

from booking import plan
from booking.commands import command_outcome
from booking.models import AllocationState, SeatAllocation
from booking.seating import best_block, near_block, outcome_text
from tests import factories
from tests.booking.test_seating import grid


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def split(seats, taken_places):
    """(free seats, taken seats) of a grid, ``taken_places`` as (row, column)."""
    taken = [s for s in seats if (s.row, s.column) in taken_places]
    return [s for s in seats if s not in taken], taken


def at(seats, block):
    return [(s.row, s.column) for s in seats if s.id in block.seat_ids]


def test_a_late_joiner_takes_the_free_seat_at_the_groups_table():
    seats, side, facing = grid(4)
    free, group = split(seats, {(3, 0), (3, 1), (4, 0)})  # three of table 2L
    block = near_block(free, 1, group, side=side, facing=facing)
    assert block.tier == "table" and at(seats, block) == [(4, 1)]
    # Without the group, the finder would have opened a table at the front.
    assert at(seats, best_block(free, 1, side=side, facing=facing))[0][0] == 1


def test_side_by_side_with_the_group_before_facing_them():
    seats, side, facing = grid(4, tables=False)
    free, group = split(seats, {(3, 0)})
    block = near_block(free, 1, group, side=side, facing=facing)
    assert block.tier == "side_by_side" and at(seats, block) == [(3, 1)]


def test_facing_the_group_when_no_seat_beside_them_is_free():
    seats, side, facing = grid(4, tables=False)
    free, group = split(seats, {(3, 0), (3, 1)})
    block = near_block(free, 2, group, side=side, facing=facing)
    assert block.tier == "facing"
    assert set(at(seats, block)) == {(4, 0), (4, 1)}


def test_the_nearest_free_row_of_their_coach_not_a_seat_four_rows_away():
    # The group fills row 5, strangers the row facing them: the late friend gets row 4,
    # one row from them, not row 1 at the front (what a new block would pick).
    seats, side, facing = grid(8, tables=False)
    row5 = {(5, c) for c in (0, 1, 3, 4)}
    row6 = {(6, c) for c in (0, 1, 3, 4)}
    free, taken = split(seats, row5 | row6)
    group = [s for s in taken if s.row == 5]
    block = near_block(free, 1, group, side=side, facing=facing)
    assert block.tier == "coach" and at(seats, block)[0][0] == 4
    assert at(seats, best_block(free, 1, side=side, facing=facing))[0][0] == 1


def test_no_room_in_their_coach_gives_none():
    seats, side, facing = grid(1, tables=False)
    other, _, _ = grid(2, tables=False, coach=2)
    free, group = split(seats, {(1, c) for c in (0, 1, 3, 4)})
    assert near_block(free + other, 1, group, side=side, facing=facing) is None


@pytest.mark.parametrize(
    ("tier", "with_group", "together"),
    [
        ("table", None, True),
        ("facing", None, True),
        ("coach", None, False),
        ("side_by_side", True, True),
        ("coach", True, False),
        ("table", False, False),
    ],
)
def test_the_answer_says_together_only_when_it_is_true(tier, with_group, together):
    text = str(outcome_text(tier, with_group))
    assert ("together" in text or "next to the others" in text) is together


@pytest.mark.django_db
def test_a_friend_who_joins_after_the_others_are_seated_sits_at_their_table():
    trip, people, (early, _late) = factories.planned_trip(travellers=3)
    plan.sit_together(trip_id=trip.pk, user=people[0], leg="outbound", departure_id=early.pk)
    tables = set(
        SeatAllocation.objects.filter(state=AllocationState.HELD).values_list(
            "seat__table_group", flat=True
        )
    )
    assert len(tables) == 1
    late = factories.member(trip, "Late Léa")
    event = plan.sit_together(trip_id=trip.pk, user=late, leg="outbound", departure_id=early.pk)
    assert [h["user_id"] for h in event.payload["holds"]] == [late.pk]
    seat = SeatAllocation.objects.get(user=late, state=AllocationState.HELD).seat
    assert seat.table_group in tables
    assert (event.payload["tier"], event.payload["with_group"]) == ("table", True)
    assert "next to the others" in command_outcome(event)


@pytest.mark.django_db
def test_the_first_sit_together_of_a_group_says_together():
    trip, people, (early, _late) = factories.planned_trip(travellers=2)
    event = plan.sit_together(
        trip_id=trip.pk, user=people[0], leg="outbound", departure_id=early.pk
    )
    assert event.payload["with_group"] is None
    assert command_outcome(event) == "Done: you are seated together."


@pytest.mark.django_db
def test_the_invite_page_of_a_trip_whose_train_is_chosen_shows_it(client):
    from booking.models import Departure

    trip, people, (early, _late) = factories.planned_trip(travellers=2)
    token = factories.link_made_while_planning(trip, by=people[0])
    page = client.get(f"/join/{token}/", headers={"accept-language": "en"}).content.decode()
    assert "data-join-chosen" not in page  # still voting: no train to show
    plan.poll_settle(trip_id=trip.pk, by=people[0], leg="outbound", departure_id=early.pk)
    page = client.get(f"/join/{token}/", headers={"accept-language": "en"}).content.decode()
    assert "data-join-chosen" in page
    assert f'data-join-train="{early.pk}"' in page
    assert Departure.objects.get(pk=early.pk).service_number in page
    assert "picking their seats" in page


def test_across_the_aisle_in_the_groups_row_is_next_to_them_before_another_row():
    # The group fills the table on the left (rows 1-2); the right side of row 1 is free:
    # the late friend sits there, in their row, rather than a row behind them.
    seats, side, facing = grid(4)
    free, group = split(seats, {(1, 0), (1, 1), (2, 0), (2, 1)})
    block = near_block(free, 1, group, side=side, facing=facing)
    assert block.tier == "across_aisle" and at(seats, block)[0][0] in (1, 2)
    assert at(seats, block)[0][1] > 1  # the other side of the aisle
    assert str(outcome_text("across_aisle", True)) == (
        "Done: seated next to the others, across the aisle."
    )
