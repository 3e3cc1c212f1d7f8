"""Daily rollups of clicks, so the dashboard reads one row per link and day however many
clicks there are.

``rollup`` recomputes the last ``REFERRALS["ROLLUP_DAYS"]`` days (today included) from the
clicks and writes each (link, day) with one upsert: running it twice, or in two workers at
once, leaves the same rows. Older days do not change (clicks are only ever added now).
``rollup(days=N)`` rebuilds further back, e.g. after restoring clicks.

A source (one address hash: the same address on the same day) that went past a click
rate limit has a ``flagged`` row on the link; all its clicks on that link that day count
as one visit and one visitor. Below the limits, the visitors made by their own click
(browsers with no visitor key) count once per source, link and day: a script that drops
its cookies cannot inflate a sharer's numbers either.

Each row also carries its link's channel, destination (the trip's) and sharer, and the
link's share intents that day, so the dashboard groups rollups alone (docs/referrals.md,
"Rollups"). The same run then rewrites the days' ``DailySummary`` rows (the rollups summed
per day, channel and destination: ``summarize``), which the dashboard's totals, series,
channels and destinations read.
"""

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from referrals.models import (
    Click,
    DailyRollup,
    DailySummary,
    RollupRun,
    ShareIntent,
    SharerTotal,
)


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def rollup(*, days: int | None = None, today: dt.date | None = None) -> int:
    """Recompute the rollups of the last ``days`` days; returns how many rows it wrote."""
    days = days or settings.REFERRALS["ROLLUP_DAYS"]
    today = today or timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    tz = timezone.get_current_timezone()
    window = {"at__gte": _day_start(first), "at__lt": _day_start(today + dt.timedelta(days=1))}
    clicks = Click.objects.filter(**window).annotate(day=TruncDate("at", tzinfo=tz))
    copies = ("link_id", "channel", "day", "link__trip__destination_id", "link__sharer_id")

    # Flooding sources are rare: fetch them first, as (link, source, day).
    flooded = set(clicks.filter(flagged=True).values_list("link_id", "ip_hash", "day"))
    flooded_links = sorted({link_id for link_id, _, _ in flooded})

    # Every (link, day): previews and flagged rows, and the visits of links without a
    # flooding source. The link's channel, destination and sharer are copied onto the row.
    # The flooded links are excluded from the visit counts by their ids alone (a plain IN,
    # hashed by PostgreSQL), not by an OR of (link, sources) tested on every click.
    # Visitors made by their click (browsers that brought no key: ``new_visitor``) count
    # once per source: N of them from one address on a link that day are one visit and
    # one visitor, so a script that drops its cookies inflates nothing. Visits and
    # visitors = those of browsers that came back with their key + the new ones' sources.
    plain = Q(is_preview=False, flagged=False) & ~Q(link_id__in=flooded_links)
    plain_new = plain & Q(new_visitor=True)
    rows = (
        clicks.values(*copies)
        .annotate(
            previews=Count("pk", filter=Q(is_preview=True, flagged=False)),
            flagged_n=Count("pk", filter=Q(flagged=True)),
            plain_visits=Count("pk", filter=plain),
            plain_visitors=Count("visitor", filter=plain, distinct=True),
            new_visits=Count("pk", filter=plain_new),
            new_visitors=Count("visitor", filter=plain_new, distinct=True),
            new_sources=Count("ip_hash", filter=plain_new, distinct=True),
        )
        .order_by("link_id", "day")
    )
    # The flooded links' visits, counted here: each flooding source once that day, the
    # other clicks as above. Few rows (the rate limit stops storing a source's clicks).
    visits: dict[tuple, int] = defaultdict(int)
    visitors: dict[tuple, set] = defaultdict(set)
    made: dict[tuple, set] = defaultdict(set)  # visitors made by their click
    sources: dict[tuple, set] = defaultdict(set)  # flooding sources, and new visitors'
    for link_id, day, source, visitor_id, new_visitor in clicks.filter(
        link_id__in=flooded_links, is_preview=False, flagged=False
    ).values_list("link_id", "day", "ip_hash", "visitor_id", "new_visitor"):
        key = (link_id, day)
        if (link_id, source, day) in flooded or new_visitor:
            sources[key].add(source)
            if new_visitor:
                made[key].add(visitor_id)
        else:
            visits[key] += 1
            if visitor_id is not None:
                visitors[key].add(visitor_id)

    def new_row(row: dict) -> DailyRollup:
        return DailyRollup(
            link_id=row["link_id"],
            channel=row["channel"],
            destination_id=row["link__trip__destination_id"],
            sharer_id=row["link__sharer_id"],
            day=row["day"],
        )

    rollups: dict[tuple, DailyRollup] = {}
    for row in rows:
        key = (row["link_id"], row["day"])
        flood = len(sources.get(key, ()))
        returning = len(visitors.get(key, set()) - made.get(key, set()))
        rollups[key] = rollup_row = new_row(row)
        rollup_row.previews = row["previews"]
        rollup_row.visits = (
            row["plain_visits"]
            - row["new_visits"]
            + row["new_sources"]
            + visits.get(key, 0)
            + flood
        )
        rollup_row.unique_visitors = (
            row["plain_visitors"] - row["new_visitors"] + row["new_sources"] + returning + flood
        )
        rollup_row.flagged = row["flagged_n"]
    # Presses of the share buttons, on the same rows (a day with presses and no click has
    # its own), so the dashboard reads them with the clicks.
    for row in (
        ShareIntent.objects.filter(**window)
        .annotate(day=TruncDate("at", tzinfo=tz))
        .values(*copies)
        .annotate(n=Count("pk"))
    ):
        key = (row["link_id"], row["day"])
        if key not in rollups:
            rollups[key] = new_row(row)
        rollups[key].share_intents = row["n"]
    # One transaction: the dashboard never sees rollups without their summaries and totals.
    # Rows in key order, so two runs at once lock them in the same order.
    with transaction.atomic():
        _write(rollups, first=first, last=today)
    return len(rollups)


def _write(rollups: dict[tuple, DailyRollup], *, first: dt.date, last: dt.date) -> None:
    DailyRollup.objects.bulk_create(
        [rollups[key] for key in sorted(rollups)],
        update_conflicts=True,
        unique_fields=["link", "day"],
        update_fields=[
            "channel",
            "destination",
            "sharer",
            "previews",
            "visits",
            "unique_visitors",
            "flagged",
            "share_intents",
            "updated_at",
        ],
    )
    summarize(first=first, last=last)
    sharers_total(first=first, last=last)
    RollupRun.objects.bulk_create(
        [RollupRun(finished_at=timezone.now(), first_day=first, last_day=last)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["finished_at", "first_day", "last_day"],
    )


SUMMED = ("previews", "visits", "unique_visitors", "flagged", "share_intents")


def summarize(*, first: dt.date, last: dt.date) -> int:
    """Rewrite the ``DailySummary`` rows of the days ``first`` to ``last`` (both included)
    as the sums of those days' ``DailyRollup`` rows per channel and destination: one
    upsert, then the segments with no rollup left are deleted. Read from the rollup rows
    themselves (not from what the run just counted), so it agrees with them whatever ran
    before; running it twice leaves the same rows. Returns how many rows it wrote."""
    rows = [
        DailySummary(
            day=row["day"],
            channel=row["channel"],
            destination_id=row["destination_id"],
            **{field: row[f"sum_{field}"] or 0 for field in SUMMED},
        )
        for row in DailyRollup.objects.filter(day__gte=first, day__lte=last)
        .values("day", "channel", "destination_id")
        .annotate(**{f"sum_{field}": Sum(field) for field in SUMMED})
        .order_by("day", "channel", "destination_id")
    ]
    DailySummary.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["day", "channel", "destination"],
        update_fields=[*SUMMED, "updated_at"],
    )
    kept = {(row.day, row.channel, row.destination_id) for row in rows}
    stale = [
        pk
        for pk, *key in DailySummary.objects.filter(day__gte=first, day__lte=last).values_list(
            "pk", "day", "channel", "destination_id"
        )
        if tuple(key) not in kept
    ]
    if stale:
        DailySummary.objects.filter(pk__in=stale).delete()
    return len(rows)


def sharers_total(*, first: dt.date, last: dt.date) -> int:
    """Recompute ``SharerTotal`` (every day's unique visitors summed) for the sharers with a
    rollup row in the days ``first`` to ``last``, from all their rows. Returns how many."""
    sharers = sorted(
        set(
            DailyRollup.objects.filter(day__gte=first, day__lte=last).values_list(
                "sharer_id", flat=True
            )
        )
    )
    rows = []
    # By chunks of ids (a plain IN read through the sharer index; SQLite's parameters are
    # bounded), not a subquery, which PostgreSQL answered by reading every rollup row.
    for n in range(0, len(sharers), TOTALS_CHUNK):
        rows += [
            SharerTotal(sharer_id=sharer_id, visitors=visitors or 0)
            for sharer_id, visitors in DailyRollup.objects.filter(
                sharer_id__in=sharers[n : n + TOTALS_CHUNK]
            )
            .values("sharer_id")
            .annotate(v=Sum("unique_visitors"))
            .values_list("sharer_id", "v")
        ]
    SharerTotal.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["sharer"],
        update_fields=["visitors", "updated_at"],
    )
    return len(rows)


TOTALS_CHUNK = 2000


def rollup_job() -> int:
    """The worker's entry point (``core.jobs``)."""
    return rollup()
