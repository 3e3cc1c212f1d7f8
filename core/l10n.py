"""Dates, ranges of dates and money written as each of our languages writes them, from the
Unicode CLDR data that Babel ships (not from hand-made patterns): "jeudi 10 décembre",
"10–11 déc. 2026", "juil.", "45,00 €" in French; "Thursday 10 December", "10–11 Dec 2026",
"Jul", "€45.00" in English.

Why Babel and not Django's ``FORMAT_MODULE_PATH``: Django formats one date at a time with
``date`` format characters, so a range ("10–11 déc. 2026", "3 juil. – 11 déc. 2026") would
be hand-assembled per language, and its abbreviated months are title-cased ("Déc"); CLDR
has interval formats and the standalone abbreviations people write. Our English is the
British one (``en_GB``: day before month, as on the rest of the site).

Every function reads the active language (``django.utils.translation``) unless given one,
and writes an aware datetime in its own time zone: convert it first (``timezone.localtime``
to the station's zone); the template filters (``frontend/templatetags/dates.py``) do what
Django's ``date`` does (the current time zone, unless ``|timezone:zone`` came first).
Languages we do not serve fall back to English. Amounts of money are integers in the
currency's minor unit, never floats (``format_money`` refuses anything else).
"""

import datetime as dt
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.dates import format_date, format_interval, format_time, format_timedelta
from babel.numbers import format_currency, get_currency_precision
from django.utils.translation import get_language
from django.utils.translation import gettext as _

_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(_LOCALES.get(language, _LOCALES["en"]))


def locale_for(language: str | None = None) -> Locale:
    code = (language or get_language() or "en").split("-")[0].lower()
    return _locale(code)


def _skeleton_pattern(locale: Locale, skeleton: str) -> str:
    """The locale's pattern for a skeleton. Where CLDR lists only the abbreviated form
    ("E d MMM" for "MMMEd"), the full one is that pattern with its fields widened, as
    CLDR's own skeleton-matching rule does ("EEEE d MMMM")."""
    patterns = locale.datetime_skeletons
    if skeleton in patterns:
        return str(patterns[skeleton])
    short = skeleton.replace("EEEE", "E").replace("MMMM", "MMM")
    pattern = str(patterns[short])
    if "EEEE" in skeleton:
        pattern = _widen(pattern, "E", "EEEE")
    if "MMMM" in skeleton:
        pattern = _widen(pattern, "M", "MMMM")
    return pattern


def _widen(pattern: str, field: str, wide: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "'":  # a quoted literal stays as it is
            end = pattern.find("'", i + 1)
            end = len(pattern) if end < 0 else end + 1
            out.append(pattern[i:end])
            i = end
        elif pattern[i] == field:
            while i < len(pattern) and pattern[i] == field:
                i += 1
            out.append(wide)
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def format_day(value, *, year: bool = False, language: str | None = None) -> str:
    """The day in full: "jeudi 10 décembre" / "Thursday 10 December" (with the year:
    "jeudi 10 décembre 2026")."""
    locale = locale_for(language)
    skeleton = "yMMMMEEEEd" if year else "MMMMEEEEd"
    return format_date(_as_date(value), _skeleton_pattern(locale, skeleton), locale=locale)


def format_day_short(value, *, year: bool = False, language: str | None = None) -> str:
    """A short day: "jeu. 10 déc." / "Thu 10 Dec" (with the year: "… 2026")."""
    locale = locale_for(language)
    skeleton = "yMMMEd" if year else "MMMEd"
    return format_date(_as_date(value), locale.datetime_skeletons[skeleton], locale=locale)


def format_day_range(first, last, *, year: bool = True, language: str | None = None) -> str:
    """Two days as one range, written once where they share month or year:
    "10–11 déc. 2026", "3 juil. – 11 déc. 2026" / "10–11 Dec 2026". The same day twice is
    that day."""
    locale = locale_for(language)
    return format_interval(
        _as_date(first), _as_date(last), "yMMMd" if year else "MMMd", locale=locale
    )


def format_month_short(value, *, language: str | None = None) -> str:
    """The month alone, abbreviated: "déc.", "juil." / "Dec", "Jul"."""
    return format_date(_as_date(value), "LLL", locale=locale_for(language))


def format_moment(value, *, year: bool = False, language: str | None = None) -> str:
    """A departure or a deadline: "jeu. 10 déc. 07:00" / "Thu 10 Dec, 07:00" (with the
    year if asked), in the template's time zone."""
    locale = locale_for(language)
    day = format_day_short(value, year=year, language=language)
    time = format_time(value, "HH:mm", locale=locale)
    glue = str(locale.datetime_formats["medium"])
    return glue.replace("{1}", day).replace("{0}", time)


def format_span(seconds: int, *, language: str | None = None) -> str:
    """A length of time in words: "15 minutes", "4 heures" / "4 hours" (the largest unit
    that says it in under two of the next one: 90 minutes stay minutes)."""
    return format_timedelta(
        dt.timedelta(seconds=seconds), threshold=2, format="long", locale=locale_for(language)
    )


def format_time_of_day(value, *, language: str | None = None) -> str:
    """ "07:00" (24-hour in both languages, as on every timetable)."""
    return format_time(value, "HH:mm", locale=locale_for(language))


def _as_minor_units(value) -> int:
    if isinstance(value, bool):
        raise TypeError("money expects an integer amount in minor units, not a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise TypeError(f"money expects an integer amount in minor units, got {value!r}")


def format_money(amount, currency: str = "EUR", *, language: str | None = None) -> str:
    """``amount`` in the currency's minor unit → "45,00 €" / "€45.00". Exact: the amount
    becomes a ``Decimal`` by moving the decimal point, never through a float."""
    minor = _as_minor_units(amount)
    currency = (currency or "EUR").upper()
    digits = get_currency_precision(currency)
    return format_currency(Decimal(minor).scaleb(-digits), currency, locale=locale_for(language))


def seat_name(coach, seat) -> str:
    """The one name of a seat for people, on every page, ticket and e-mail: "Coach 2,
    seat 14" / "Voiture 2, place 14". (``Seat.label``, "2-14", is the language-neutral
    form that travels in events and scanner answers; ``seat_name_of`` reads it.)"""
    return _("Coach %(coach)s, seat %(seat)s") % {"coach": coach, "seat": seat}


def seat_name_of(value) -> str:
    """A seat, or its label "2-14", as ``seat_name`` writes it; anything else as it is."""
    coach = getattr(getattr(value, "coach", None), "number", None)
    if coach is not None:
        return seat_name(coach, value.number)
    text = str(value or "")
    coach, sep, seat = text.partition("-")
    if sep and coach.isdigit() and seat.isdigit():
        return seat_name(int(coach), int(seat))
    return text
