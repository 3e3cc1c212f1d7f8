"""Shared helpers of the referral tests: browsers, crawlers and an Open Graph reader that
knows nothing of our templates."""

import datetime as dt
from html.parser import HTMLParser

from django.test import Client
from django.utils import timezone

BROWSER_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
FACEBOOK_CRAWLER_UA = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"


def at(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    """That local time of ``day`` (TIME_ZONE)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def click(link, when, *, source="s", visitor=None, preview=False, flagged=False):
    """A click row on ``link`` at ``when``, as tracking writes it (a preview has no
    visitor; ``source`` stands for the hashed address)."""
    from referrals.models import Click

    return Click.objects.create(
        link=link,
        visitor=None if preview else visitor,
        channel=link.channel,
        at=when,
        is_preview=preview,
        flagged=flagged,
        ip_hash=source,
    )


def browser(ip: str = "198.51.100.20", *, language: str = "en") -> Client:
    client = Client(HTTP_USER_AGENT=BROWSER_UA, REMOTE_ADDR=ip)
    client.cookies["django_language"] = language
    return client


class OpenGraph(HTMLParser):
    """Collects <meta property|name=… content=…> in <head>, the first value of each."""

    def __init__(self):
        super().__init__()
        self.tags: dict[str, str] = {}
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self._in_head = True
        if tag == "meta" and self._in_head:
            attributes = dict(attrs)
            name = attributes.get("property") or attributes.get("name")
            if name and "content" in attributes:
                self.tags.setdefault(name, attributes["content"])

    def handle_endtag(self, tag):
        if tag == "head":
            self._in_head = False


def open_graph(html: str) -> dict[str, str]:
    parser = OpenGraph()
    parser.feed(html)
    return parser.tags
