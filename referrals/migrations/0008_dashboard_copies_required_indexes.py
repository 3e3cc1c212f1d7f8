"""The copies 0007 filled made required, and the indexes the dashboard reads alone on
PostgreSQL (index-only scans): a range's share links, conversions and rollups (the last
replaces the rollups' ``(day, channel)`` index), a sharer's rollups (replaces the index
of their foreign key), and the sharers' totals from the largest."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import referrals.models


def _station():
    return models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="booking.station",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0007_dashboard_copies_daily_summary"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(model_name="sharelink", name="destination", field=_station()),
        migrations.AlterField(
            model_name="sharelink",
            name="day",
            field=referrals.models.LocalDayField(editable=False, of="created_at"),
        ),
        migrations.AlterField(model_name="conversion", name="destination", field=_station()),
        migrations.AlterField(
            model_name="conversion",
            name="day",
            field=referrals.models.LocalDayField(editable=False, of="at"),
        ),
        migrations.AddIndex(
            model_name="sharelink",
            index=models.Index(
                fields=["day", "channel", "sharer", "destination"], name="sharelink_day_counts"
            ),
        ),
        migrations.AddIndex(
            model_name="sharelink",
            index=models.Index(fields=["channel", "sharer", "day"], name="sharelink_channel_sharers"),
        ),
        migrations.AddIndex(
            model_name="sharelink",
            index=models.Index(
                fields=["destination", "sharer", "day"], name="sharelink_destination_sharers"
            ),
        ),
        migrations.AddIndex(
            model_name="conversion",
            index=models.Index(
                fields=["day", "channel", "destination", "kind", "amount_cents", "reversed_cents"],
                name="conversion_day_counts",
            ),
        ),
        migrations.RemoveIndex(model_name="dailyrollup", name="rollup_day_channel"),
        migrations.AddIndex(
            model_name="dailyrollup",
            index=models.Index(
                fields=["day", "channel", "sharer", "unique_visitors", "destination"],
                name="rollup_day_channel_sharer",
            ),
        ),
        migrations.AlterField(
            model_name="dailyrollup",
            name="sharer",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="dailyrollup",
            index=models.Index(
                fields=["sharer", "day", "unique_visitors"], name="rollup_sharer_day_visitors"
            ),
        ),
        migrations.AddIndex(
            model_name="sharertotal",
            index=models.Index(fields=["-visitors"], name="sharer_total_visitors"),
        ),
    ]
