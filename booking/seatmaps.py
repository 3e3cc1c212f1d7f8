"""Seat-map files: a builder of realistic double-deck maps, and the one reader of the import
format (docs/seat-maps.md) that both operator doors use (``manage.py import_seatmap`` and
the admin's import view) before they call ``services.vehicle_import``.

The example file ``booking/seatmaps/example-duplex.json`` is this builder's output for a
two-coach train; a test keeps the two in step. To write it again::

    python manage.py shell -c "from booking import seatmaps; \\
        seatmaps.example_path().write_text(seatmaps.example_json())"
"""

import json
from collections.abc import Iterator
from pathlib import Path

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework.settings import api_settings

from booking.errors import SeatMapInvalid
from booking.models import ComfortClass, Deck, Facing, SeatPosition
from booking.serializers import SeatMapImportSerializer
from core.errors import DomainError

# Columns across a deck; the aisle is the empty column 2, so two seats are side by side only
# on the same side of it (see services._neighbour_pairs).
AISLE_COLUMN = 2
SECOND_CLASS_COLUMNS = (
    (0, SeatPosition.WINDOW),
    (1, SeatPosition.AISLE),
    (3, SeatPosition.AISLE),
    (4, SeatPosition.WINDOW),
)
# 2+1: a pair on the left, a solo seat on the right (window and aisle at once: we call it
# window, which is what a traveller choosing it cares about).
FIRST_CLASS_COLUMNS = (
    (0, SeatPosition.WINDOW),
    (1, SeatPosition.AISLE),
    (3, SeatPosition.WINDOW),
)

# A deck is a run of blocks from the front of the coach (row 1) backwards:
# TABLE = two rows facing each other across a table (the front row faces backward, the
# next one forward); AIRLINE = one row facing forward, behind the seat in front of it.
TABLE = "T"
AIRLINE = "A"
# Rows per deck, as on a TGV Duplex: the upper deck runs the whole coach, the lower deck
# stops short of the vestibules and stairs over the bogies.
SECOND_CLASS_DECKS = {Deck.LOWER: "TAAATA", Deck.UPPER: "TAAATAAA"}  # 8 + 10 rows, 72 seats
FIRST_CLASS_DECKS = {Deck.LOWER: "TAAT", Deck.UPPER: "TAATAA"}  # 6 + 8 rows, 42 seats
# Numbers are unique per coach: the lower deck from 1, the upper deck from 61, as on the
# trains themselves, so a number tells a traveller which stairs to take.
FIRST_NUMBER = {Deck.LOWER: 1, Deck.UPPER: 61}

EXAMPLE_FILE = "example-duplex.json"


def _side(column: int) -> str:
    return "A" if column < AISLE_COLUMN else "B"


def _deck_seats(
    *, plan: str, columns, deck: str, comfort_class: str, first_number: int
) -> list[dict]:
    seats = []
    number = first_number
    row = 0
    tables = 0
    for block in plan:
        if block == TABLE:
            tables += 1
            rows = ((row + 1, Facing.BACKWARD), (row + 2, Facing.FORWARD))
            # One table per side of the aisle, e.g. "U2A": upper deck, second table, left.
            group = f"{deck[0].upper()}{tables}"
        elif block == AIRLINE:
            rows = ((row + 1, Facing.FORWARD),)
            group = ""
        else:  # pragma: no cover - the plans above are constants
            raise ValueError(f"unknown block {block!r}")
        for row_number, facing in rows:
            for column, position in columns:
                seats.append(
                    {
                        "number": number,
                        "deck": str(deck),
                        "row": row_number,
                        "column": column,
                        "position": str(position),
                        "facing": str(facing),
                        "table": f"{group}{_side(column)}" if group else "",
                        "comfort_class": str(comfort_class),
                    }
                )
                number += 1
        row += len(rows)
    return seats


def _coach(*, number: int, comfort_class: str) -> dict:
    if comfort_class == ComfortClass.FIRST:
        columns, decks = FIRST_CLASS_COLUMNS, FIRST_CLASS_DECKS
    else:
        columns, decks = SECOND_CLASS_COLUMNS, SECOND_CLASS_DECKS
    seats = []
    for deck in (Deck.LOWER, Deck.UPPER):
        seats.extend(
            _deck_seats(
                plan=decks[deck],
                columns=columns,
                deck=deck,
                comfort_class=comfort_class,
                first_number=FIRST_NUMBER[deck],
            )
        )
    return {"number": number, "double_deck": True, "seats": seats}


def duplex_seat_map(
    *,
    code: str,
    name: str,
    first_class_coaches: int = 1,
    second_class_coaches: int = 3,
    description: str | None = None,
) -> dict:
    """A TGV Duplex-like train in the import format: first-class coaches (2+1, 42 seats)
    numbered from 1, then second-class coaches (2+2, 72 seats). Every deck has tables of
    four (two facing rows, one table per side of the aisle; on the solo side of first class
    a table of two) and airline rows facing forward."""
    if first_class_coaches < 0 or second_class_coaches < 0:
        raise ValueError("coach counts cannot be negative")
    if not 1 <= first_class_coaches + second_class_coaches <= 99:
        raise ValueError("a train has 1 to 99 coaches")
    classes = [ComfortClass.FIRST] * first_class_coaches + [
        ComfortClass.SECOND
    ] * second_class_coaches
    coaches = [
        _coach(number=number, comfort_class=comfort)
        for number, comfort in enumerate(classes, start=1)
    ]
    if description is None:
        description = _("Double-deck high-speed train: %(first)s, %(second)s, %(seats)s seats.") % {
            "first": ngettext(
                "%(n)s first-class coach (2+1)",
                "%(n)s first-class coaches (2+1)",
                first_class_coaches,
            )
            % {"n": first_class_coaches},
            "second": ngettext(
                "%(n)s second-class coach (2+2)",
                "%(n)s second-class coaches (2+2)",
                second_class_coaches,
            )
            % {"n": second_class_coaches},
            "seats": sum(len(c["seats"]) for c in coaches),
        }
    return {"code": code, "name": name, "description": description, "coaches": coaches}


# --- The example file ----------------------------------------------------------------------


def example_path() -> Path:
    return Path(__file__).resolve().parent / "seatmaps" / EXAMPLE_FILE


def example_seat_map() -> dict:
    # The file is documentation in the source language, whatever language is active.
    with translation.override("en"):
        return duplex_seat_map(
            code="tgv-duplex-2",
            name="TGV Duplex (2 coaches)",
            first_class_coaches=1,
            second_class_coaches=1,
        )


def seat_map_dumps(data: dict) -> str:
    """Pretty JSON with one seat per line: readable, and short enough to diff."""
    head = {key: value for key, value in data.items() if key != "coaches"}
    lines = ["{"]
    lines.extend(
        f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},"
        for key, value in head.items()
    )
    lines.append('  "coaches": [')
    for c_index, coach in enumerate(data["coaches"]):
        lines.append("    {")
        for key, value in coach.items():
            if key != "seats":
                lines.append(f"      {json.dumps(key)}: {json.dumps(value)},")
        lines.append('      "seats": [')
        seats = coach["seats"]
        for s_index, seat in enumerate(seats):
            comma = "," if s_index < len(seats) - 1 else ""
            lines.append(f"        {json.dumps(seat, ensure_ascii=False)}{comma}")
        lines.append("      ]")
        lines.append("    }" + ("," if c_index < len(data["coaches"]) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def example_json() -> str:
    return seat_map_dumps(example_seat_map())


# --- Reading an import file ----------------------------------------------------------------


def _error_paths(detail, path: str = "") -> Iterator[tuple[str, str]]:
    """DRF's nested errors as (path, message), the path written as in JSON tools:
    ``coaches[1].seats[3].position`` (indexes count from 0)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                sub = path
            elif isinstance(key, int):  # a ListSerializer's errors, keyed by item index
                sub = f"{path}[{key}]"
            else:
                sub = f"{path}.{key}" if path else str(key)
            yield from _error_paths(value, sub)
    elif isinstance(detail, list | tuple):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list | tuple):
                yield from _error_paths(item, f"{path}[{index}]")
            else:
                yield path, str(item)
    else:
        yield path, str(detail)


def seat_map_read(*, raw: str | bytes) -> dict:
    """Parse and validate an import file. Returns the validated data for
    ``services.vehicle_import``; raises ``SeatMapInvalid`` with a message a person can act
    on (the line and column of a JSON error; the path of each invalid value in ``fields``).
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SeatMapInvalid(
                _("The file is not UTF-8 text (invalid byte at position %(position)s).")
                % {"position": exc.start}
            ) from exc
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SeatMapInvalid(
            _("Invalid JSON at line %(line)s, column %(column)s: %(error)s.")
            % {"line": exc.lineno, "column": exc.colno, "error": exc.msg}
        ) from exc
    except RecursionError as exc:
        raise SeatMapInvalid(_("Invalid JSON: it is nested too deeply.")) from exc
    serializer = SeatMapImportSerializer(data=payload)
    if not serializer.is_valid():
        fields: dict[str, list[str]] = {}
        for path, message in _error_paths(serializer.errors):
            fields.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).append(message)
        raise SeatMapInvalid(_("The seat map is not valid."), fields=fields)
    return serializer.validated_data


def error_lines(error: DomainError) -> list[str]:
    """A domain error as lines a person reads: the message, then ``path: problem``."""
    lines = [str(error.message)]
    for path, messages in error.fields.items():
        for message in messages:
            if path == api_settings.NON_FIELD_ERRORS_KEY:
                lines.append(str(message))
            else:
                lines.append(f"{path}: {message}")
    return lines


def seat_map_counts(data: dict) -> tuple[int, int]:
    """(coaches, seats) of validated import data."""
    return len(data["coaches"]), sum(len(c["seats"]) for c in data["coaches"])
