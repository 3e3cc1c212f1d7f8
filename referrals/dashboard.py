"""The marketing dashboard for staff with ``referrals.view_dashboard``: its JSON API
(``/api/referrals/dashboard/``), its page (``/staff/referrals/``, charts drawn on the
server as inline SVG with pygal: no script) and its CSV export. All three read
``selectors.dashboard_get``, so their numbers agree. docs/referrals.md, "Dashboard".
"""

import csv
import datetime as dt
import re

import pygal
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.middleware.csp import get_nonce
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from core.api import Api, errors
from core.l10n import format_day_short
from referrals.models import ShareChannel
from referrals.rollups import rollup
from referrals.selectors import (
    DASHBOARD_COUNTS,
    REFERENCE_VISITORS_PER_SHARE,
    Dashboard,
    DashboardMetrics,
    dashboard_get,
    rollup_last_finished,
)

PERMISSION = "referrals.view_dashboard"
MAX_DAYS = 366
DEFAULT_DAYS = 30


def may_view(user) -> bool:
    return bool(user.is_authenticated and user.is_staff and user.has_perm(PERMISSION))


# --- The query: a date range and optional filters ------------------------------------------


class DashboardQuerySerializer(serializers.Serializer):
    """``from`` and ``to`` (local days, both included; by default the last 30 days up to
    today), at most 366 days; ``channel`` and ``destination`` (a station code) narrow it."""

    locals()["from"] = serializers.DateField(
        required=False, help_text="First day (YYYY-MM-DD), included."
    )
    to = serializers.DateField(required=False, help_text="Last day (YYYY-MM-DD), included.")
    # Not an enum in the schema: its name would clash with the invitations' "channel".
    channel = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="One of: " + ", ".join(ShareChannel.values) + ".",
    )
    destination = serializers.RegexField(
        r"^[A-Za-z]{5}$", required=False, allow_blank=True, default="", help_text="Station code."
    )

    def validate_channel(self, value: str) -> str:
        if value and value not in ShareChannel.values:
            raise serializers.ValidationError(_("Unknown channel."))
        return value

    def validate(self, attrs):
        last = attrs.get("to") or timezone.localdate()
        first = attrs.get("from")
        if first is None:
            first = max(dt.date.min, last - dt.timedelta(days=DEFAULT_DAYS - 1))
        if first > last:
            raise serializers.ValidationError({"from": _("The first day is after the last one.")})
        if (last - first).days + 1 > MAX_DAYS:
            raise serializers.ValidationError(
                {"to": _("At most %(days)s days at once.") % {"days": MAX_DAYS}}
            )
        return {**attrs, "from": first, "to": last}


def _dashboard(query: dict) -> Dashboard:
    return dashboard_get(
        first=query["from"],
        last=query["to"],
        channel=query["channel"],
        destination=query["destination"],
    )


# --- The JSON API ---------------------------------------------------------------------------


class ReferralMetricsSerializer(serializers.Serializer):
    shares = serializers.IntegerField(help_text="Share links made.")
    share_intents = serializers.IntegerField(help_text="Presses of a share button.")
    sharers = serializers.IntegerField(help_text="Distinct people who made a share link.")
    previews = serializers.IntegerField(help_text="Link-crawler fetches (not visitors).")
    visits = serializers.IntegerField()
    visitors = serializers.IntegerField(help_text="Unique visitors per link and day, summed.")
    visitors_per_share = serializers.FloatField(allow_null=True)
    signups = serializers.IntegerField()
    trips_created = serializers.IntegerField()
    bookings = serializers.IntegerField()
    conversion_rate = serializers.FloatField(allow_null=True, help_text="Bookings / visitors.")
    revenue_cents = serializers.IntegerField(help_text="Bookings' revenue minus refunds.")
    k_factor = serializers.FloatField(
        allow_null=True, help_text="(shares / sharers) × (sign-ups / shares)."
    )


class ReferralDayMetricsSerializer(ReferralMetricsSerializer):
    day = serializers.DateField()


class ReferralChannelMetricsSerializer(ReferralMetricsSerializer):
    channel = serializers.CharField(help_text="One of: " + ", ".join(ShareChannel.values) + ".")
    label = serializers.CharField()


class ReferralDestinationMetricsSerializer(ReferralMetricsSerializer):
    destination = serializers.CharField(help_text="Station code.")
    name = serializers.CharField()


class ReferralTopSharerSerializer(serializers.Serializer):
    first_name = serializers.CharField()
    visitors = serializers.IntegerField()
    signups = serializers.IntegerField()
    bookings = serializers.IntegerField()


class ReferralDashboardSerializer(serializers.Serializer):
    # "from" is a Python keyword: declared below.
    to = serializers.DateField()
    channel = serializers.CharField()
    destination = serializers.CharField()
    reference_visitors_per_share = serializers.FloatField()
    totals = ReferralMetricsSerializer()
    series = ReferralDayMetricsSerializer(many=True)
    by_channel = ReferralChannelMetricsSerializer(many=True)
    by_destination = ReferralDestinationMetricsSerializer(many=True)
    top_sharers = ReferralTopSharerSerializer(many=True)

    locals()["from"] = serializers.DateField()


def _metrics(m: DashboardMetrics) -> dict:
    return {
        **{key: getattr(m, key) for key in DASHBOARD_COUNTS},
        "sharers": m.sharers,
        "visitors_per_share": m.visitors_per_share,
        "conversion_rate": m.conversion_rate,
        "k_factor": m.k_factor,
    }


def dashboard_data(board: Dashboard) -> dict:
    """The API's answer (and the page's numbers)."""
    labels = dict(ShareChannel.choices)
    destinations = sorted(
        board.destinations.values(), key=lambda item: (-item[2].visitors, item[0])
    )
    return {
        "from": board.first,
        "to": board.last,
        "channel": board.channel,
        "destination": board.destination,
        "reference_visitors_per_share": REFERENCE_VISITORS_PER_SHARE,
        "totals": _metrics(board.totals),
        "series": [{"day": day, **_metrics(m)} for day, m in board.days.items()],
        "by_channel": [
            {"channel": channel, "label": str(labels[channel]), **_metrics(m)}
            for channel, m in board.channels.items()
        ],
        "by_destination": [
            {"destination": code, "name": name, **_metrics(m)} for code, name, m in destinations
        ],
        "top_sharers": board.top_sharers,
    }


class CanViewDashboard(BasePermission):
    message = gettext_lazy("Only staff with the dashboard permission may see this.")

    def has_permission(self, request, view):
        return may_view(request.user)


class DashboardApi(Api):
    permission_classes = [IsAuthenticated, CanViewDashboard]

    @extend_schema(
        parameters=[DashboardQuerySerializer],
        responses={200: ReferralDashboardSerializer, **errors(400, 403)},
        summary="Referrals dashboard: totals, daily series, channels, destinations",
    )
    def get(self, request):
        query = DashboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            ReferralDashboardSerializer(dashboard_data(_dashboard(query.validated_data))).data
        )


# --- The page and its CSV -------------------------------------------------------------------


def _staff_only(request) -> None:
    if not may_view(request.user):
        raise PermissionDenied


_CHART_STYLE = {
    "js": [],  # no script (pygal would load its tooltips from a CDN)
    "disable_xml_declaration": True,
    "width": 640,
    "height": 320,
    "legend_at_bottom": True,
    "x_label_rotation": 30,
}


# pygal always writes its tooltips' configuration as a <script> in the SVG: not wanted
# (no script on the page). Its text is XML-escaped, so the first closing tag is its own.
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)


# The page's Content-Security-Policy allows no inline style but the request's nonce: the
# SVG's style sheet gets it; pygal's one style attribute (its hidden tooltip) becomes the
# SVG presentation attribute it stands for.
_STYLE_TAG = re.compile(r"<style\b")
_HIDDEN_STYLE = ' style="opacity: 0"'


def _svg(chart, nonce: str) -> str:
    # pygal escapes the labels it is given (XML); the SVG is ours to inline.
    svg = _SCRIPT.sub("", chart.render(is_unicode=True)).replace(_HIDDEN_STYLE, ' opacity="0"')
    return mark_safe(_STYLE_TAG.sub(f'<style nonce="{nonce}"', svg))  # noqa: S308


def _charts(data: dict, *, nonce: str) -> dict:
    series = data["series"]
    daily = pygal.Line(
        title=_("Visitors and bookings per day"), show_minor_x_labels=False, **_CHART_STYLE
    )
    daily.x_labels = [format_day_short(row["day"]) for row in series]
    daily.x_labels_major_every = max(1, len(series) // 8)
    daily.add(_("Visitors"), [row["visitors"] for row in series])
    daily.add(_("Bookings"), [row["bookings"] for row in series])

    channels = data["by_channel"]
    by_channel = pygal.Bar(title=_("By channel"), **_CHART_STYLE)
    by_channel.x_labels = [row["label"] for row in channels]
    by_channel.add(_("Shares"), [row["shares"] for row in channels])
    by_channel.add(_("Visitors"), [row["visitors"] for row in channels])
    by_channel.add(_("Bookings"), [row["bookings"] for row in channels])

    per_share = pygal.Bar(title=_("Visitors per share, against the 2.1 reference"), **_CHART_STYLE)
    per_share.x_labels = [row["label"] for row in channels]
    per_share.add(_("Visitors per share"), [row["visitors_per_share"] or 0 for row in channels])
    per_share.add(_("Reference"), [REFERENCE_VISITORS_PER_SHARE] * len(channels))
    return {
        "daily": _svg(daily, nonce),
        "by_channel": _svg(by_channel, nonce),
        "per_share": _svg(per_share, nonce),
    }


@login_required
@require_safe
def dashboard_page(request):
    _staff_only(request)
    query = DashboardQuerySerializer(data=request.GET)
    context = {
        "computed_at": rollup_last_finished(),
        "channels": ShareChannel.choices,
        "form": {key: request.GET.get(key, "") for key in ("from", "to", "channel", "destination")},
        "reference": REFERENCE_VISITORS_PER_SHARE,
    }
    if not query.is_valid():
        context["errors"] = [str(m) for messages in query.errors.values() for m in messages]
        return render(request, "referrals/dashboard.html", context, status=400)
    data = dashboard_data(_dashboard(query.validated_data))
    context.update(
        data=data,
        charts=_charts(data, nonce=str(get_nonce(request))),
        querystring=request.GET.urlencode(),
    )
    context["form"].update({"from": data["from"].isoformat(), "to": data["to"].isoformat()})
    return render(request, "referrals/dashboard.html", context)


@login_required
@require_POST
def dashboard_refresh(request):
    """ "Refresh today's figures": the rollup job's work for today, now (the job itself runs
    every few minutes); back to the dashboard with the same filters."""
    _staff_only(request)
    rollup(days=1)
    messages.success(request, _("Today's figures are computed again."))
    target = reverse("referrals_dashboard")
    query = request.POST.get("query", "")
    return redirect(f"{target}?{query}" if query else target)


CSV_COLUMNS = ("day", "channel", *DASHBOARD_COUNTS)


@login_required
@require_safe
def dashboard_csv(request):
    """The same numbers per day and channel (rows with something to count); each column
    sums to the API's total."""
    _staff_only(request)
    query = DashboardQuerySerializer(data=request.GET)
    if not query.is_valid():
        messages = [str(m) for messages in query.errors.values() for m in messages]
        return HttpResponse(" ".join(messages), status=400, content_type="text/plain")
    board = _dashboard(query.validated_data)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="referrals-{board.first}-{board.last}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for (day, channel), m in board.cells.items():
        writer.writerow([day.isoformat(), channel, *(getattr(m, key) for key in DASHBOARD_COUNTS)])
    return response
