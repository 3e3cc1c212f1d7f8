"""``manage.py reconcile [--trip ID] [--dry-run]``: compare our payments with Stripe and
repair the drift (``payments.reconcile``). One line per change; nothing when all agree."""

from django.core.management.base import BaseCommand

from payments.reconcile import reconcile


class Command(BaseCommand):
    help = "Compare payments with Stripe and repair drift (one line per change)."

    def add_arguments(self, parser):
        parser.add_argument("--trip", type=int, help="only this trip's checkouts")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="read Stripe, say what would change, write nothing",
        )

    def handle(self, *args, trip=None, dry_run=False, **options):
        changes = reconcile(trip_id=trip, dry_run=dry_run)
        for change in changes:
            if change.attention:
                self.stderr.write(self.style.WARNING(str(change)))
            else:
                self.stdout.write(str(change))
        if not any(not change.attention for change in changes):
            self.stdout.write("Nothing to repair." if not dry_run else "Nothing would change.")
