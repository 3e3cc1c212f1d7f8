"""``manage.py import_seatmap FILE`` (or ``-`` for standard input): the operator's door onto
``services.vehicle_import``. Bad input ends in a ``CommandError`` that says what to fix,
never in a traceback."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from booking import seatmaps
from booking.services import vehicle_import
from core.errors import DomainError


class Command(BaseCommand):
    @property
    def help(self):  # a property: argparse cannot format a lazy string
        return _(
            "Create or update a vehicle from a seat-map JSON file (see docs/seat-maps.md). "
            "The same map again changes nothing; a different map for a vehicle that already "
            "runs departures is refused."
        )

    # Lets tests pass their own standard input, as createsuperuser does.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", help=_("Path of the JSON file, or - for standard input."))

    def handle(self, *args, file: str, **options):
        raw = self._read(file, options.get("stdin") or sys.stdin)
        try:
            data = seatmaps.seat_map_read(raw=raw)
            vehicle, outcome = vehicle_import(data=data)
        except DomainError as exc:
            raise CommandError("\n".join(seatmaps.error_lines(exc))) from exc
        coaches, seats = seatmaps.seat_map_counts(data)
        messages = {
            "created": _(
                "created: vehicle %(code)s (%(name)s), %(coaches)s coaches, %(seats)s seats."
            ),
            "unchanged": _(
                "unchanged: vehicle %(code)s (%(name)s) already has this map, "
                "%(coaches)s coaches, %(seats)s seats."
            ),
            "replaced": _(
                "replaced: vehicle %(code)s (%(name)s) now has %(coaches)s coaches, "
                "%(seats)s seats."
            ),
        }
        line = messages[outcome] % {
            "code": vehicle.code,
            "name": vehicle.name,
            "coaches": coaches,
            "seats": seats,
        }
        self.stdout.write(self.style.SUCCESS(line) if outcome != "unchanged" else line)

    def _read(self, file: str, stdin) -> str | bytes:
        if file == "-":
            data = stdin.read()
            if not data.strip():
                raise CommandError(_("Nothing was read from standard input."))
            return data
        try:
            with open(file, "rb") as handle:
                return handle.read()
        except FileNotFoundError as exc:
            raise CommandError(_("No such file: %(file)s") % {"file": file}) from exc
        except IsADirectoryError as exc:
            raise CommandError(_("%(file)s is a directory, not a file.") % {"file": file}) from exc
        except OSError as exc:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": file, "error": exc.strerror}
            ) from exc
