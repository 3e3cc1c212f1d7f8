"""Daily rollups of clicks, so the dashboard reads one row per link and day however many
clicks there are.

``rollup`` recomputes the last ``REFERRALS["ROLLUP_DAYS"]`` days (today included) from the
clicks and writes each (link, day) with one upsert: running it twice, or in two workers at
once, leaves the same rows. Older days do not change (clicks are only ever added now).
``rollup(days=N)`` rebuilds further back, e.g. after restoring clicks.

A source (one address hash: the same address on the same day) that went past the click
rate limit on a link has a ``flagged`` row; all its clicks on that link that day count as
one visit and one visitor, so a script cannot inflate a sharer's numbers.
"""

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from referrals.models import Click, DailyRollup


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def rollup(*, days: int | None = None, today: dt.date | None = None) -> int:
    """Recompute the rollups of the last ``days`` days; returns how many rows it wrote."""
    days = days or settings.REFERRALS["ROLLUP_DAYS"]
    today = today or timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    clicks = Click.objects.filter(
        at__gte=_day_start(first), at__lt=_day_start(today + dt.timedelta(days=1))
    )
    tz = timezone.get_current_timezone()

    # Flooding sources are rare: fetch them first, then count their clicks apart.
    flooded: dict[int, set[str]] = defaultdict(set)
    for link_id, source in clicks.filter(flagged=True).values_list("link_id", "ip_hash"):
        flooded[link_id].add(source)
    from_flooded = Q(pk__in=[])
    for link_id, sources in flooded.items():
        from_flooded |= Q(link_id=link_id, ip_hash__in=sorted(sources))

    visit = Q(is_preview=False, flagged=False)
    rows = (
        clicks.annotate(day=TruncDate("at", tzinfo=tz))
        .values("link_id", "channel", "day")
        .annotate(
            previews=Count("pk", filter=Q(is_preview=True, flagged=False)),
            flagged_n=Count("pk", filter=Q(flagged=True)),
            plain_visits=Count("pk", filter=visit & ~from_flooded),
            plain_visitors=Count("visitor", filter=visit & ~from_flooded, distinct=True),
            flood_sources=Count("ip_hash", filter=visit & from_flooded, distinct=True),
        )
        .order_by("link_id", "day")
    )
    rollups = [
        DailyRollup(
            link_id=row["link_id"],
            channel=row["channel"],
            day=row["day"],
            previews=row["previews"],
            visits=row["plain_visits"] + row["flood_sources"],
            unique_visitors=row["plain_visitors"] + row["flood_sources"],
            flagged=row["flagged_n"],
        )
        for row in rows
    ]
    DailyRollup.objects.bulk_create(
        rollups,
        update_conflicts=True,
        unique_fields=["link", "day"],
        update_fields=["channel", "previews", "visits", "unique_visitors", "flagged", "updated_at"],
    )
    return len(rollups)


def rollup_job() -> int:
    """The worker's entry point (``core.jobs``)."""
    return rollup()
