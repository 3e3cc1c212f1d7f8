"""The dashboard's cheaper reads (docs/referrals.md, "Rollups"):

- copies on share links and conversions: the local ``day`` they were made on (of
  ``created_at``, of ``at``) and their trip's ``destination`` (a conversion's through its
  link), so they are counted by day, channel and destination without converting each
  row's time nor joining links and trips; filled here for the rows made before (the
  models write them from now on);
- ``DailySummary``: the daily rollups summed per day, channel and destination, rewritten
  by the rollup job; made here from every existing rollup row;
- ``SharerTotal``: each sharer's unique visitors, every day summed (the top sharers' bar);
  made here from every existing rollup row.

0008 then makes the copies required and adds the indexes (on PostgreSQL a column cannot be
altered in the transaction that updated its deferred foreign keys)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

import referrals.models

SUMMED = ("previews", "visits", "unique_visitors", "flagged", "share_intents")


def fill(apps, schema_editor):
    Conversion = apps.get_model("referrals", "Conversion")
    DailyRollup = apps.get_model("referrals", "DailyRollup")
    DailySummary = apps.get_model("referrals", "DailySummary")
    ShareLink = apps.get_model("referrals", "ShareLink")
    SharerTotal = apps.get_model("referrals", "SharerTotal")
    Trip = apps.get_model("booking", "Trip")
    tz = timezone.get_current_timezone()
    ShareLink.objects.filter(destination__isnull=True).update(
        destination_id=Subquery(
            Trip.objects.filter(pk=OuterRef("trip_id")).values("destination_id")[:1]
        )
    )
    ShareLink.objects.filter(day__isnull=True).update(day=TruncDate("created_at", tzinfo=tz))
    Conversion.objects.filter(destination__isnull=True).update(
        destination_id=Subquery(
            ShareLink.objects.filter(pk=OuterRef("link_id")).values("destination_id")[:1]
        )
    )
    Conversion.objects.filter(day__isnull=True).update(day=TruncDate("at", tzinfo=tz))
    summarize_all(DailyRollup, DailySummary, SharerTotal)


def summarize_all(DailyRollup, DailySummary, SharerTotal):
    """Every day's summaries and every sharer's total, from all the rollup rows."""
    DailySummary.objects.all().delete()
    DailySummary.objects.bulk_create(
        [
            DailySummary(
                day=row["day"],
                channel=row["channel"],
                destination_id=row["destination_id"],
                **{field: row[f"sum_{field}"] or 0 for field in SUMMED},
            )
            for row in DailyRollup.objects.values("day", "channel", "destination_id")
            .annotate(**{f"sum_{field}": Sum(field) for field in SUMMED})
            .order_by("day", "channel", "destination_id")
        ],
        batch_size=5000,
    )
    SharerTotal.objects.all().delete()
    SharerTotal.objects.bulk_create(
        [
            SharerTotal(sharer_id=sharer_id, visitors=visitors or 0)
            for sharer_id, visitors in DailyRollup.objects.values("sharer_id")
            .annotate(v=Sum("unique_visitors"))
            .order_by("sharer_id")
            .values_list("sharer_id", "v")
        ],
        batch_size=5000,
    )


def _station(null: bool = True):
    return models.ForeignKey(
        db_index=False,
        null=null,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="booking.station",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0004_booking_ticket"),
        ("referrals", "0006_rollup_destination_sharer_required"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(model_name="sharelink", name="destination", field=_station()),
        migrations.AddField(
            model_name="sharelink",
            name="day",
            field=referrals.models.LocalDayField(editable=False, null=True, of="created_at"),
        ),
        migrations.AddField(model_name="conversion", name="destination", field=_station()),
        migrations.AddField(
            model_name="conversion",
            name="day",
            field=referrals.models.LocalDayField(editable=False, null=True, of="at"),
        ),
        migrations.CreateModel(
            name="DailySummary",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                (
                    "channel",
                    models.CharField(
                        choices=[
                            ("facebook", "Facebook"),
                            ("x", "X"),
                            ("whatsapp", "WhatsApp"),
                            ("messenger", "Messenger"),
                            ("webshare", "Share menu"),
                            ("copy", "Copied link"),
                        ],
                        max_length=10,
                    ),
                ),
                ("destination", _station(null=False)),
                ("previews", models.PositiveIntegerField(default=0)),
                ("visits", models.PositiveIntegerField(default=0)),
                ("unique_visitors", models.PositiveIntegerField(default=0)),
                ("flagged", models.PositiveIntegerField(default=0)),
                ("share_intents", models.PositiveIntegerField(default=0)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name": "daily summary",
                "verbose_name_plural": "daily summaries",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "channel", "destination"),
                        name="one_summary_per_day_segment",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="SharerTotal",
            fields=[
                (
                    "sharer",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("visitors", models.PositiveIntegerField(default=0)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name": "sharer's total",
                "verbose_name_plural": "sharers' totals",
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
