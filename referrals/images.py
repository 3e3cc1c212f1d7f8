"""The 1200×630 picture of a shared trip (``og:image``): destination, date, "N friends"
and the brand, drawn with Pillow.

Drawn once per link, language and content, then kept in the cache: link crawlers fetch
the picture again and again, and a repeat costs a cache read. The content is part of the
key, so a traveller joining gives a new picture.
"""

import hashlib
import io
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import get_language, ngettext
from PIL import Image, ImageDraw, ImageFont

from core.l10n import format_day_range, format_moment
from referrals.selectors import Landing

WIDTH, HEIGHT = 1200, 630
NAVY = (19, 41, 75)
GOLD = (245, 184, 61)
WHITE = (255, 255, 255)
MUTED = (196, 206, 224)
MARGIN = 72


def _font(size: int, *, bold: bool = False) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu from the system when present, else Pillow's own font (never a failure)."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(settings.REFERRALS["IMAGE_FONT_DIR"]) / name
    if path.is_file():
        try:
            return ImageFont.truetype(str(path), size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, *, size: int, bold: bool, width: int):
    """The largest font from ``size`` down that fits ``text`` in ``width`` pixels."""
    while size > 24:
        font = _font(size, bold=bold)
        if draw.textlength(text, font=font) <= width:
            return font
        size -= 6
    return _font(size, bold=bold)


def image_lines(landing: Landing) -> dict[str, str]:
    """The words on the picture, in the active language."""
    # The booked train's day and time ("jeu. 10 déc. 2026, 07:00"); before a train is
    # chosen, the trip's days ("10–11 déc. 2026").
    if landing.departs_at is not None:
        when = format_moment(landing.departs_at, year=True)
    else:
        when = format_day_range(landing.outbound_from, landing.outbound_to)
    return {
        "title": landing.event_name or landing.destination_name,
        "route": f"{landing.origin_name} → {landing.destination_name}",
        "when": when,
        "friends": ngettext("%(count)d friend", "%(count)d friends", landing.travellers)
        % {"count": landing.travellers},
        "brand": "Sidebyside",
    }


def render_png(lines: dict[str, str]) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), NAVY)
    draw = ImageDraw.Draw(image)
    inner = WIDTH - 2 * MARGIN
    draw.rectangle((0, HEIGHT - 16, WIDTH, HEIGHT), fill=GOLD)
    # The brand's mark: two seats side by side on a gold square.
    draw.rounded_rectangle((MARGIN, 56, MARGIN + 64, 120), radius=18, fill=GOLD)
    for left in (MARGIN + 14, MARGIN + 36):
        draw.rounded_rectangle((left, 70, left + 14, 98), radius=6, fill=NAVY)
        draw.rectangle((left - 4, 100, left + 18, 108), fill=NAVY)
    draw.text((MARGIN + 88, 88), lines["brand"], font=_font(40, bold=True), fill=WHITE, anchor="lm")
    title_font = _fit(draw, lines["title"], size=96, bold=True, width=inner)
    draw.text((MARGIN, 250), lines["title"], font=title_font, fill=WHITE, anchor="ls")
    route_font = _fit(draw, lines["route"], size=48, bold=False, width=inner)
    draw.text((MARGIN, 330), lines["route"], font=route_font, fill=MUTED, anchor="ls")
    draw.text((MARGIN, 430), lines["when"], font=_font(48, bold=True), fill=GOLD, anchor="ls")
    draw.text((MARGIN, 520), lines["friends"], font=_font(48), fill=WHITE, anchor="ls")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def share_image_png(landing: Landing) -> bytes:
    """The picture of a link's card; the sharer's preview (no link yet) is the same
    picture, kept under the trip."""
    lines = image_lines(landing)
    digest = hashlib.sha256(repr(sorted(lines.items())).encode()).hexdigest()[:16]
    owner = landing.link.code if landing.link is not None else f"preview-{landing.trip_id}"
    key = f"referrals:image:v1:{owner}:{get_language()}:{digest}"
    png = cache.get(key)
    if png is None:
        png = render_png(lines)
        cache.set(key, png, settings.REFERRALS["IMAGE_CACHE_SECONDS"])
    return png
