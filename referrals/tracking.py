"""What a click may know about who made it, and no more: whether the user agent is a link
crawler (a preview, not a visitor), a short family name of the browser, and an HMAC of the
network address under a salt that changes every day.
"""

import datetime as dt
import functools
import re

from crawlerdetect import CrawlerDetect
from django.utils import timezone
from django.utils.crypto import salted_hmac

# The link-preview fetchers of the networks people share to. crawlerdetect knows them all
# today (tests/referrals/test_tracking.py checks each); this list keeps them counted as
# previews should a future version of its list drop or rename one.
_PREVIEW_FETCHERS = re.compile(
    r"facebookexternalhit|facebookcatalog|meta-externalagent|Twitterbot|WhatsApp|"
    r"Slackbot|Slack-ImgProxy|LinkedInBot|TelegramBot|Discordbot|SkypeUriPreview|"
    r"Pinterestbot|redditbot|Embedly|Iframely|vkShare|Applebot",
    re.IGNORECASE,
)

# In-app browsers first: they also carry "Safari" or "Chrome" in their user agent.
_FAMILIES = (
    ("facebook-app", re.compile(r"FBAN|FBAV|FB_IAB|FBIOS", re.IGNORECASE)),
    ("instagram-app", re.compile(r"Instagram", re.IGNORECASE)),
    ("edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("opera", re.compile(r"OPR/|Opera")),
    ("samsung", re.compile(r"SamsungBrowser")),
    ("firefox", re.compile(r"Firefox/|FxiOS/")),
    ("chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("safari", re.compile(r"Safari/")),
)


def crawler_name(user_agent: str) -> str | None:
    """The crawler's name when ``user_agent`` is a bot or link-preview fetcher, else None.
    No user agent at all is no browser either: counted as a preview."""
    user_agent = (user_agent or "").strip()
    if not user_agent:
        return "no-user-agent"
    match = _PREVIEW_FETCHERS.search(user_agent)
    if match:
        return match.group(0).lower()
    if len(user_agent) <= _REMEMBERED_AGENT_LENGTH:
        return _crawler_detected(user_agent)
    return _crawler_detect(user_agent)


# crawlerdetect's one regular expression (its thousands of crawler names as alternatives)
# takes about half a millisecond to search a browser's user agent: the most expensive
# step of a landing request. Browsers send few distinct user agents (versions and devices
# repeat), so each answer is kept, in a bounded cache (thread-safe); an overlong user
# agent is checked and not kept, so nobody can fill the cache with huge strings.
_REMEMBERED_AGENT_LENGTH = 512


def _crawler_detect(user_agent: str) -> str | None:
    detector = CrawlerDetect()  # cheap; one per call keeps it thread-safe
    if detector.is_crawler(user_agent):
        return (detector.get_matches() or "crawler").lower()
    return None


_crawler_detected = functools.lru_cache(maxsize=4096)(_crawler_detect)


def user_agent_family(user_agent: str) -> str:
    for family, pattern in _FAMILIES:
        if pattern.search(user_agent or ""):
            return family
    return "other"


def ip_hash(address: str, *, on: dt.date | None = None) -> str:
    """HMAC-SHA256 of ``address`` keyed by a salt derived from ``SECRET_KEY`` and the day.
    The same address gives the same hash all day (enough to see a flood) and another one
    the next day; the address itself is never stored."""
    day = on or timezone.localdate()
    return salted_hmac(
        f"sidebyside.referrals.ip.{day.isoformat()}", address or "", algorithm="sha256"
    ).hexdigest()
