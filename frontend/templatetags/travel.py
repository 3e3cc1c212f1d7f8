"""Presentation of journeys and seat maps for the templates: durations, class names, and
the layout of a deck as lines of cells the template draws without arithmetic.

Nothing here decides anything about the trip; it only arranges what the selectors
returned (``booking.selectors.DeckView`` and friends) for the screen and for screen
readers.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django import template
from django.utils.translation import gettext as _

from booking.models import ComfortClass

register = template.Library()

STATUS_FREE = "free"


@register.filter
def duration(minutes) -> str:
    """120 → "2 h 00" (French) / "2h 00" (English); under an hour, "45 min"."""
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        return ""
    hours, rest = divmod(max(minutes, 0), 60)
    if not hours:
        return _("%(minutes)d min") % {"minutes": rest}
    return _("%(hours)dh %(minutes)02d") % {"hours": hours, "minutes": rest}


@register.filter
def comfort_label(code: str) -> str:
    try:
        return str(ComfortClass(code).label)
    except ValueError:
        return code


def status_label(status: str) -> str:
    return {
        "free": _("Free"),
        "held": _("On hold"),
        "sold": _("Taken"),
    }.get(status, status)


@register.filter
def seat_status_label(status: str) -> str:
    return status_label(status)


@dataclass
class Cell:
    kind: str  # seat, aisle (a column without seats), empty (no seat here), table
    seat: object = None  # a SeatView when kind == "seat"
    column: int = 0
    span: int = 1
    label: str = ""  # what a screen reader says for the seat
    description: str = ""  # the label without the status (the live plan adds its own)
    title: str = ""  # heading of the seat's details: "Seat 23"
    where: str = ""  # "Coach 2 · Upper deck"
    info: str = ""  # the seat's details, one line


@dataclass
class Line:
    kind: str  # seats or tables
    row: int
    cells: list[Cell] = field(default_factory=list)

    @property
    def is_seats(self) -> bool:
        return self.kind == "seats"


@dataclass
class DeckLayout:
    lines: list[Line]
    seat_count: int
    free_count: int


def _table_sizes(seats: Iterable) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for view in seats:
        group = view.seat.table_group
        if group:
            sizes[group] = sizes.get(group, 0) + 1
    return sizes


def _describe(view, *, coach_number: int, deck_label: str, table_size: int) -> Cell:
    seat = view.seat
    position = seat.get_position_display()
    facing = seat.get_facing_display()
    comfort = comfort_label(seat.comfort_class)
    status = status_label(view.status)
    at_table = _("at a table for %(n)d") % {"n": table_size} if table_size else ""
    parts = [_("Seat %(number)s") % {"number": seat.number}, position.lower(), facing.lower()]
    if at_table:
        parts.append(at_table)
    parts.append(comfort.lower())
    description = ", ".join(parts)
    parts.append(status.lower())
    where_parts = [_("Coach %(number)s") % {"number": coach_number}]
    if deck_label:
        where_parts.append(deck_label)
    info_parts = [position, facing]
    if at_table:
        info_parts.append(at_table[:1].upper() + at_table[1:])
    info_parts.append(comfort)
    return Cell(
        kind="seat",
        seat=view,
        column=seat.column,
        label=", ".join(parts),
        description=description,
        title=_("Seat %(number)s") % {"number": seat.number},
        where=" · ".join(where_parts),
        info=" · ".join(info_parts),
    )


def _table_line(row: int, tables: dict[int, str], aisles: set[int], columns: int) -> Line:
    """Tables between two seat rows, merged across neighbouring columns of one group."""
    line = Line(kind="tables", row=row)
    column = 0
    while column < columns:
        group = tables.get(column)
        if group:
            span = 1
            while tables.get(column + span) == group:
                span += 1
            line.cells.append(Cell(kind="table", column=column, span=span))
            column += span
            continue
        line.cells.append(Cell(kind="aisle" if column in aisles else "empty", column=column))
        column += 1
    return line


@register.simple_tag
def deck_layout(deck, coach) -> DeckLayout:
    """Lines of a deck from front (row 1) to back, each as many cells as the deck has
    columns: seats, the aisle (a column no seat uses), gaps, and between two rows a line
    of tables where seats face each other across one.

    A seat facing forward looks towards row 1, so its table is on the line before its row;
    a seat facing backward has its table on the line after (see docs/seat-maps.md)."""
    by_place = {(view.seat.row, view.seat.column): view for view in deck.seats}
    used_columns = {column for _row, column in by_place}
    aisles = set(range(deck.columns)) - used_columns
    rows = sorted({row for row, _column in by_place})
    sizes = _table_sizes(deck.seats)
    # A seat's details name its deck only when the coach has two.
    deck_label = deck.label if len(coach.decks) > 1 else ""

    def tables_between(before: int | None, after: int | None) -> dict[int, str]:
        tables: dict[int, str] = {}
        for column in range(deck.columns):
            front = by_place.get((before, column)) if before is not None else None
            back = by_place.get((after, column)) if after is not None else None
            if front and front.seat.table_group and front.seat.facing == "backward":
                tables[column] = front.seat.table_group
            elif back and back.seat.table_group and back.seat.facing == "forward":
                tables[column] = back.seat.table_group
        return tables

    lines: list[Line] = []
    previous = None
    for row in rows:
        tables = tables_between(previous, row)
        if tables:
            lines.append(_table_line(row, tables, aisles, deck.columns))
        line = Line(kind="seats", row=row)
        for column in range(deck.columns):
            view = by_place.get((row, column))
            if view is None:
                line.cells.append(
                    Cell(kind="aisle" if column in aisles else "empty", column=column)
                )
            else:
                line.cells.append(
                    _describe(
                        view,
                        coach_number=coach.number,
                        deck_label=deck_label,
                        table_size=sizes.get(view.seat.table_group, 0),
                    )
                )
        lines.append(line)
        previous = row
    tables = tables_between(previous, None)
    if tables:
        lines.append(_table_line((previous or 0) + 1, tables, aisles, deck.columns))
    return DeckLayout(
        lines=lines,
        seat_count=len(deck.seats),
        free_count=sum(1 for view in deck.seats if view.status == STATUS_FREE),
    )


@register.filter
def coach_free_seats(coach) -> int:
    return sum(1 for deck in coach.decks for view in deck.seats if view.status == STATUS_FREE)


@register.filter
def coach_seat_count(coach) -> int:
    return sum(len(deck.seats) for deck in coach.decks)


@register.filter
def seat_holder(holders: dict, seat_id: int):
    """The traveller of the trip holding this seat (``holders``: seat id → member), or
    None: the live plan draws friends' initials on their seats."""
    return holders.get(seat_id) if holders else None
