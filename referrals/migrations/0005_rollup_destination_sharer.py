"""Copies of the link's destination (its trip's) and sharer on each daily rollup, and the
link's share intents of the day, so the dashboard reads the rollups without joining them
to their links and trips (nor the intents to theirs). Existing rows are filled from those
joins, and the intents counted (a day with intents and no click gets its row); 0006 then
makes both columns required (on PostgreSQL a column cannot be altered in the transaction
that updated its deferred foreign keys)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone


def fill_from_links(apps, schema_editor):
    DailyRollup = apps.get_model("referrals", "DailyRollup")
    ShareLink = apps.get_model("referrals", "ShareLink")
    link = ShareLink.objects.filter(pk=OuterRef("link_id"))
    DailyRollup.objects.update(
        destination_id=Subquery(link.values("trip__destination_id")[:1]),
        sharer_id=Subquery(link.values("sharer_id")[:1]),
    )
    ShareIntent = apps.get_model("referrals", "ShareIntent")
    copies = ("link_id", "link__channel", "day", "link__trip__destination_id", "link__sharer_id")
    DailyRollup.objects.bulk_create(
        [
            DailyRollup(
                link_id=row["link_id"],
                channel=row["link__channel"],
                day=row["day"],
                destination_id=row["link__trip__destination_id"],
                sharer_id=row["link__sharer_id"],
                share_intents=row["n"],
            )
            for row in ShareIntent.objects.annotate(
                day=TruncDate("at", tzinfo=timezone.get_current_timezone())
            )
            .values(*copies)
            .annotate(n=Count("pk"))
            .order_by()
        ],
        update_conflicts=True,
        unique_fields=["link", "day"],
        update_fields=["share_intents"],
        batch_size=5000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0004_booking_ticket"),
        ("referrals", "0004_rewards"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="dailyrollup",
            name="destination",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="booking.station",
            ),
        ),
        migrations.AddField(
            model_name="dailyrollup",
            name="sharer",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="dailyrollup",
            name="share_intents",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(fill_from_links, migrations.RunPython.noop, elidable=True),
    ]
