import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from booking import seatmaps
from booking.models import Coach, Seat, SeatNeighbour, Vehicle
from tests import factories


@pytest.fixture(autouse=True)
def english():
    # Messages are translated; the assertions read the English source.
    with translation.override("en"):
        yield


@pytest.fixture
def map_file(tmp_path):
    def write(content, name="map.json") -> str:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    return write


def run(*args, stdin=None) -> str:
    out = io.StringIO()
    call_command("import_seatmap", *args, stdout=out, stderr=io.StringIO(), stdin=stdin)
    return out.getvalue()


def import_error(*args, stdin=None) -> str:
    with pytest.raises(CommandError) as caught:
        run(*args, stdin=stdin)
    return str(caught.value)


def seat_rows() -> list[tuple]:
    return list(
        Seat.objects.order_by("coach__vehicle__code", "coach__number", "number").values_list(
            "id", "coach__vehicle__code", "coach__number", "number", "deck", "row", "column",
            "position", "facing", "table_group", "comfort_class",
        )
    )  # fmt: skip


@pytest.mark.django_db
def test_good_file_creates_the_vehicle_and_says_how_many_coaches_and_seats():
    out = run(str(seatmaps.example_path()))

    assert out.startswith("created:")
    assert "2 coaches, 114 seats" in out
    vehicle = Vehicle.objects.get(code="tgv-duplex-2")
    assert vehicle.name == "TGV Duplex (2 coaches)"
    assert vehicle.coaches.count() == 2
    assert Seat.objects.filter(coach__vehicle=vehicle).count() == 114
    assert SeatNeighbour.objects.filter(seat__coach__vehicle=vehicle).exists()


@pytest.mark.django_db
def test_same_file_again_is_unchanged_and_keeps_every_seat_row():
    path = str(seatmaps.example_path())
    run(path)
    before = seat_rows()

    out = run(path)

    assert out.startswith("unchanged:")
    assert "2 coaches, 114 seats" in out
    assert seat_rows() == before


@pytest.mark.django_db
def test_changed_map_without_departures_replaces_the_seats(map_file):
    data = seatmaps.example_seat_map()
    run(map_file(data))
    data["coaches"][1]["seats"] = data["coaches"][1]["seats"][:-4]

    out = run(map_file(data, "smaller.json"))

    assert out.startswith("replaced:")
    assert "2 coaches, 110 seats" in out
    assert Seat.objects.count() == 110


@pytest.mark.django_db
def test_changed_map_of_a_vehicle_with_departures_is_refused_and_nothing_changes(map_file):
    data = seatmaps.example_seat_map()
    run(map_file(data))
    vehicle = Vehicle.objects.get(code=data["code"])
    factories.departure(vehicle_obj=vehicle)
    before = seat_rows()
    data["name"] = "Renamed"
    data["coaches"][1]["seats"][0]["position"] = "aisle"

    message = import_error(map_file(data, "changed.json"))

    assert "This vehicle has departures; its seat map cannot be replaced." in message
    assert seat_rows() == before
    vehicle.refresh_from_db()
    assert vehicle.name == "TGV Duplex (2 coaches)"


@pytest.mark.django_db
def test_invalid_json_is_a_command_error_naming_line_and_column(map_file):
    path = map_file('{\n  "code": "x",\n  "name": oops\n}')

    message = import_error(path)

    assert message.startswith("Invalid JSON at line 3, column 11:")
    assert not Vehicle.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["coaches"][1]["seats"][1].update(number=61),
            "coaches[1]: Two seats of this coach share a number.",
        ),
        (
            lambda d: d["coaches"][0].update(double_deck=False),
            "coaches[0]: A single-deck coach has no upper deck.",
        ),
        (
            lambda d: d["coaches"][1]["seats"][3].update(position="x"),
            'coaches[1].seats[3].position: "x" is not a valid choice.',
        ),
        (
            lambda d: d["coaches"][1].update(number=1),
            "coaches: Two coaches share a number.",
        ),
        (
            lambda d: d["coaches"][0]["seats"][2].pop("row"),
            "coaches[0].seats[2].row: This field is required.",
        ),
    ],
    ids=["duplicate-seat-number", "upper-deck-on-single-deck", "bad-enum", "duplicate-coach",
         "missing-field"],
)  # fmt: skip
def test_invalid_map_is_refused_with_the_path_of_each_problem(map_file, change, expected):
    data = seatmaps.example_seat_map()
    change(data)

    message = import_error(map_file(data))

    lines = message.splitlines()
    assert lines[0] == "The seat map is not valid."
    assert expected in lines[1:]
    assert not Vehicle.objects.exists()
    assert not Coach.objects.exists()


@pytest.mark.django_db
def test_dash_reads_the_map_from_standard_input():
    out = run("-", stdin=io.StringIO(seatmaps.example_json()))

    assert out.startswith("created:")
    assert Vehicle.objects.filter(code="tgv-duplex-2").exists()


@pytest.mark.django_db
def test_empty_standard_input_is_a_command_error():
    assert "Nothing was read" in import_error("-", stdin=io.StringIO("  \n"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[1, 2]", "The seat map is not valid."),
        ("[" * 100_000, "Invalid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
    ids=["not-an-object", "nested-too-deeply", "not-utf-8"],
)
def test_malformed_files_end_in_a_message_not_a_traceback(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)

    assert expected in import_error(str(path))
    assert not Vehicle.objects.exists()


@pytest.mark.django_db
def test_missing_file_is_a_command_error(tmp_path):
    assert "No such file" in import_error(str(tmp_path / "nope.json"))
