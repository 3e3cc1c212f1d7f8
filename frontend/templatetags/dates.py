"""Dates as people write them, in the active language (``core.l10n``, CLDR through Babel):
``{% load dates %}``.

| filter | French | English |
|---|---|---|
| ``day`` | jeudi 10 décembre | Thursday 10 December |
| ``day_year`` | jeudi 10 décembre 2026 | Thursday, 10 December 2026 |
| ``day_short`` | jeu. 10 déc. | Thu 10 Dec |
| ``first|day_range:last`` | 10–11 déc. 2026 (one day: 10 déc. 2026) | 10–11 Dec 2026 |
| ``first|day_range_short:last`` | 10–11 déc. | 10–11 Dec |
| ``month_short`` | déc., juil. | Dec, Jul |
| ``moment`` | jeu. 10 déc., 07:00 | Thu 10 Dec, 07:00 |
| ``moment_year`` | jeu. 10 déc. 2026, 07:00 | Thu, 10 Dec 2026, 07:00 |

A datetime is written in the template's time zone, like Django's ``date``: pass it
through ``|timezone:station.time_zone`` first for a station's local time. Machine forms
(``datetime=`` attributes, URLs) keep Django's ``date:"c"`` / ``date:"Y-m-d"``.
An empty value gives an empty string.
"""

import datetime as dt

from django import template
from django.utils import timezone

from core import l10n

register = template.Library()


def _empty(value) -> bool:
    return value is None or value == ""


def _local(value):
    # As Django's ``date`` filter: the current time zone, unless ``|timezone:`` came first.
    return timezone.template_localtime(value) if isinstance(value, dt.datetime) else value


@register.filter
def day(value) -> str:
    return "" if _empty(value) else l10n.format_day(_local(value))


@register.filter
def day_year(value) -> str:
    return "" if _empty(value) else l10n.format_day(_local(value), year=True)


@register.filter
def day_short(value) -> str:
    return "" if _empty(value) else l10n.format_day_short(_local(value))


@register.filter
def day_range(first, last) -> str:
    if _empty(first):
        return ""
    return l10n.format_day_range(_local(first), _local(first if _empty(last) else last))


@register.filter
def day_range_short(first, last) -> str:
    if _empty(first):
        return ""
    return l10n.format_day_range(_local(first), _local(first if _empty(last) else last), year=False)


@register.filter
def month_short(value) -> str:
    return "" if _empty(value) else l10n.format_month_short(_local(value))


@register.filter
def moment(value) -> str:
    return "" if _empty(value) else l10n.format_moment(_local(value))


@register.filter
def moment_year(value) -> str:
    return "" if _empty(value) else l10n.format_moment(_local(value), year=True)


@register.filter
def clock(value) -> str:
    """ "07:00": 24-hour in both languages, as on every timetable."""
    return "" if _empty(value) else l10n.format_time_of_day(_local(value))
