"""referrals' section of "Download my data" (``groups.exports``): the share links the
person made and what they brought (counts), the rewards they earned, their own sign-up or
booking when a friend's link brought them, and which browsers (visitor keys) were linked
to their account. Registered in ``ReferralsConfig.ready()``; account deletion forgets the
browsers and keeps the counts and rewards (anonymised) for the rewards' accounting."""

from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from core.jsonable import iso_or_none as _when
from referrals.models import Conversion, DailyRollup, Reward, ShareLink, SharerTotal, VisitorUser

REFERRAL_MODELS = (
    "referrals.ShareLink",
    "referrals.DailyRollup",
    "referrals.SharerTotal",
    "referrals.VisitorUser",
    "referrals.Conversion",
    "referrals.Reward",
)
REFERRAL_KEPT = _(
    "The visits and bookings your share links brought, and referral rewards, are kept as "
    "counts under “Former traveller”; the browsers linked to your account are forgotten."
)


def referrals_export(user) -> dict:
    rollups = {
        row["link_id"]: row
        for row in DailyRollup.objects.filter(sharer=user)
        .values("link_id")
        .annotate(visits=Sum("visits"), unique_visitors=Sum("unique_visitors"))
    }
    total = SharerTotal.objects.filter(sharer=user).first()
    return {
        "share_links": [
            {
                "code": link.code,
                "trip_id": link.trip_id,
                "channel": link.channel,
                "created_at": _when(link.created_at),
                "visits": (rollups.get(link.pk) or {}).get("visits") or 0,
                "unique_visitors": (rollups.get(link.pk) or {}).get("unique_visitors") or 0,
            }
            for link in ShareLink.objects.filter(sharer=user).order_by("pk")
        ],
        "visitors_in_total": total.visitors if total else 0,
        # A friend's reward is counted, not named: the friend is someone else.
        "rewards": [
            {
                "amount_cents": r.amount_cents,
                "currency": r.currency,
                "used_cents": r.used_cents,
                "reversed_cents": r.reversed_cents,
                "state": r.state,
                "earned_at": _when(r.earned_at),
            }
            for r in Reward.objects.filter(sharer=user).order_by("pk")
        ],
        "brought_by_a_link": [
            {"kind": c.kind, "channel": c.channel, "at": _when(c.at)}
            for c in Conversion.objects.filter(user=user).order_by("pk")
        ],
        "browsers_linked": [
            {"linked_at": _when(v.linked_at), "expires_at": _when(v.expires_at)}
            for v in VisitorUser.objects.filter(user=user).order_by("pk")
        ],
    }


def referrals_erase(user) -> None:
    """Account deletion: the browsers linked to the account are forgotten (a later visit
    from them is nobody's)."""
    VisitorUser.objects.filter(user=user).delete()
