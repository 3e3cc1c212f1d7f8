"""``manage.py load_demo``: the door onto ``booking.demo``. Safe to run at every start."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from booking import demo
from core.errors import DomainError


class Command(BaseCommand):
    @property
    def help(self):  # a property: argparse cannot format a lazy string
        return _(
            "Load the demo catalog (stations, a TGV Duplex, fares, cards, events) and the "
            "departures of the coming days with seats already sold. Run it again at will: "
            "it only adds what is missing."
        )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=30,
            help=_("Days of departures from today (default 30)."),
        )
        parser.add_argument(
            "--with-operator",
            action="store_true",
            help=_(
                "Also create the staff superuser operator / sidebyside-demo if it is "
                "missing. Local demo only: refused unless DJANGO_DEBUG is on."
            ),
        )

    def handle(self, *args, days: int, with_operator: bool, **options):
        if not 0 <= days <= 366:
            raise CommandError(_("--days must be between 0 and 366."))
        if with_operator and not settings.DEBUG:
            raise CommandError(
                _(
                    "--with-operator creates a superuser with a published password: it is "
                    "only allowed with DJANGO_DEBUG on (a local demo)."
                )
            )
        verbose = options.get("verbosity", 1) > 1
        started = time.monotonic()
        try:
            report = demo.demo_load(days=days, progress=self.stdout.write if verbose else None)
        except DomainError as exc:
            raise CommandError(str(exc.message)) from exc
        elapsed = time.monotonic() - started

        out = self.stdout.write
        out(
            _("Demo data for %(days)s days from %(today)s, loaded in %(seconds).1f s.")
            % {"days": days, "today": report.today.isoformat(), "seconds": elapsed}
        )
        out(
            _("Vehicle %(code)s: %(outcome)s.")
            % {"code": demo.VEHICLE_CODE, "outcome": report.vehicle_outcome}
        )
        labels = {
            "stations": _("stations"),
            "vehicles": _("vehicles"),
            "seats": _("seats"),
            "fare_classes": _("fare classes"),
            "passenger_types": _("passenger types"),
            "discount_cards": _("discount cards"),
            "events": _("events"),
            "departures": _("departures"),
            "departure_fares": _("departure fares"),
            "seat_allocations": _("seats sold to other travellers"),
            "trips": _("demo trips (log in as camille@demo.sidebyside.test by code)"),
        }
        for key, label in labels.items():
            out(
                _("  %(label)s: %(total)s (%(new)s new)")
                % {
                    "label": label,
                    "total": report.totals.get(key, 0),
                    "new": report.created.get(key, 0),
                }
            )
        if report.festival is not None:
            out(
                _(
                    "Festival: %(name)s, %(start)s to %(end)s at %(station)s "
                    "(%(n)s new departures on its days)."
                )
                % {
                    "name": report.festival.name,
                    "start": report.festival.starts_on.isoformat(),
                    "end": report.festival.ends_on.isoformat(),
                    "station": report.festival.station.name,
                    "n": report.festival_departures,
                }
            )
        if report.concert is not None:
            out(
                _("Concert: %(name)s on %(date)s, %(venue)s, %(city)s.")
                % {
                    "name": report.concert.name,
                    "date": report.concert.starts_on.isoformat(),
                    "venue": report.concert.venue,
                    "city": report.concert.station.city,
                }
            )
        out(_("Valid discount card numbers to try:"))
        for name, number in report.card_samples:
            out(f"  {name}: {number}")

        if with_operator:
            created = demo.demo_operator_ensure()
            message = (
                _("Demo operator created: %(user)s / %(password)s (local demo only).")
                if created
                else _("Demo operator %(user)s already exists (password unchanged).")
            )
            out(
                self.style.WARNING(
                    message % {"user": demo.OPERATOR_USERNAME, "password": demo.OPERATOR_PASSWORD}
                )
            )
