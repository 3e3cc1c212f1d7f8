"""Where each share button sends the traveller, with their tracked link ``/r/<code>/``.

Every target is a full-page redirect to the network's own share page: no SDK, no popup
(popups never come back inside Facebook's in-app browser), nothing posted for the person —
they see and confirm what they share there. The words carry no one's name; when
incentives are on (``REFERRALS["INCENTIVE"]``) they say the sharer is rewarded.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.utils.translation import gettext as _

from referrals.selectors import Landing


def share_text(landing: Landing) -> str:
    """The words that go with the link: the trip as the public card shows it, no names."""
    where = landing.event_name or landing.destination_name
    text = _("We're going to %(where)s by train together. Plan your own trip on Sidebyside:") % {
        "where": where
    }
    if settings.REFERRALS["INCENTIVE"]:
        text = f"{text} {incentive_disclosure()}"
    return text


def incentive_disclosure() -> str:
    return _("(Disclosure: I get a reward from Sidebyside if you book through my link.)")


def messenger_desktop_available() -> bool:
    # The web Send dialog needs a real Facebook app; the local sandbox has no such dialog.
    return bool(settings.FACEBOOK_APP_ID) and not settings.FACEBOOK_SANDBOX


def share_target_url(
    *, channel: str, link_url: str, trip_url: str, text: str, device: str = ""
) -> str:
    """The network's share page for ``channel``; "" for the channels that stay on our
    page (copy and the browser's share menu)."""
    dialog = settings.FACEBOOK_DIALOG_URL.rstrip("/")
    if channel == "facebook":
        if settings.FACEBOOK_APP_ID:
            # The Share Dialog: Facebook draws the card from our page's Open Graph tags and
            # sends the person back to their trip. It never says whether they posted.
            return f"{dialog}/dialog/share?" + urlencode(
                {"app_id": settings.FACEBOOK_APP_ID, "href": link_url, "redirect_uri": trip_url}
            )
        # No app configured: the sharer page needs none.
        return f"{dialog}/sharer/sharer.php?" + urlencode({"u": link_url})
    if channel == "x":
        return "https://twitter.com/intent/tweet?" + urlencode({"url": link_url, "text": text})
    if channel == "whatsapp":
        return "https://wa.me/?" + urlencode({"text": f"{text} {link_url}"})
    if channel == "messenger":
        if device == "desktop" and messenger_desktop_available():
            return f"{dialog}/dialog/send?" + urlencode(
                {"app_id": settings.FACEBOOK_APP_ID, "link": link_url, "redirect_uri": trip_url}
            )
        return "fb-messenger://share?" + urlencode({"link": link_url})
    return ""
