"""Writes: making share links, recording clicks, remembering a visitor's consent.

A click is one INSERT (plus one for a browser never seen before, its ``Visitor``). The
same browser coming back to the same link within ``REFERRALS["VISIT_MINUTES"]`` is the
same visit and writes nothing (the ``sbs_visit`` cookie says so, no query). The
dashboard never reads clicks directly: ``referrals.rollups`` folds them into daily rows.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django_ratelimit.core import get_usage

from booking.errors import TripNotFound
from booking.models import Ticket, Trip
from core.client_address import client_address
from groups.models import Membership
from payments.models import Checkout, Share
from referrals import tracking
from referrals.errors import (
    NotATraveller,
    TripNotShareable,
    UnknownChannel,
    UnknownConsentDecision,
)
from referrals.models import (
    Click,
    Consent,
    Conversion,
    ConversionKind,
    Reward,
    RewardUse,
    ShareChannel,
    ShareIntent,
    ShareLink,
    Visitor,
    new_share_code,
    new_visitor_key,
)

log = logging.getLogger(__name__)

CONSENT_COOKIE = "sbs_consent"
VISITOR_COOKIE = "sbs_vid"
VISITOR_COOKIE_SALT = "sidebyside.referrals.vid"
# Without consent the visitor's key lives in a signed cookie without expiry, so it ends
# with the browser's session, and a first visit makes no server-side session (no row to
# check and insert on the hot path). A key in the session (put there by a refusal, or by
# an older version) is still read first.
VISITOR_SESSION_COOKIE = "sbs_svid"
VISITOR_SESSION_COOKIE_SALT = "sidebyside.referrals.svid"
VISITOR_SESSION_KEY = "referrals_vid"
# The link of the last click counted for this browser, signed (with its time, by Django's
# timestamped cookie signer): coming back to it within the visit window is no new click.
VISIT_COOKIE = "sbs_visit"
VISIT_COOKIE_SALT = "sidebyside.referrals.visit"


# --- Share links --------------------------------------------------------------------------


def share_link_get_or_create(*, trip_id: int, sharer, channel: str) -> ShareLink:
    """The sharer's link for this trip and channel, made on first use. Only an active
    traveller of the trip may share it: anyone else gets ``TripNotFound`` when the trip
    is not public to them and ``NotATraveller`` when it is (a public trip)."""
    if channel not in ShareChannel.values:
        raise UnknownChannel(fields={"channel": [UnknownChannel.default_message]})
    trip = Trip.objects.select_related("group").filter(pk=trip_id).first()
    if trip is None or sharer is None or not sharer.is_authenticated:
        raise TripNotFound()
    status = (
        Membership.objects.filter(group_id=trip.group_id, user=sharer)
        .values_list("status", flat=True)
        .first()
    )
    if status != Membership.Status.ACTIVE:
        if status is None and trip.group.privacy != trip.group.Privacy.PUBLIC:
            raise TripNotFound()
        raise NotATraveller()
    if trip.status == Trip.Status.CANCELLED:
        raise TripNotShareable()
    existing = ShareLink.objects.filter(trip=trip, sharer=sharer, channel=channel).first()
    if existing is not None:
        return existing
    # Two taps at once both miss above: the unique constraint lets one win, the other reads
    # it. A (72-bit) code collision is retried with a new code.
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return ShareLink.objects.create(
                    trip=trip, sharer=sharer, channel=channel, code=new_share_code()
                )
        except IntegrityError:
            existing = ShareLink.objects.filter(trip=trip, sharer=sharer, channel=channel).first()
            if existing is not None:
                return existing
    raise RuntimeError("Could not make a unique share code.")  # pragma: no cover


@transaction.atomic
def share_intent_record(*, trip_id: int, sharer, channel: str) -> ShareLink:
    """A press of a share button: the sharer's link for the channel (made on first use,
    with the rules of ``share_link_get_or_create``) and one ``ShareIntent`` row. Sharing
    comes after booking: a trip not booked yet is ``TripNotShareable`` and nothing is
    written (the traveller checks come first, so a stranger still learns nothing)."""
    link = share_link_get_or_create(trip_id=trip_id, sharer=sharer, channel=channel)
    if link.trip.status != Trip.Status.BOOKED:
        raise TripNotShareable(TripNotShareable.not_booked_message)
    ShareIntent.objects.create(link=link, channel=link.channel, at=timezone.now())
    return link


# --- Visitors and consent -----------------------------------------------------------------


def consent_of(request) -> str:
    value = request.COOKIES.get(CONSENT_COOKIE, "")
    return value if value in (Consent.GRANTED, Consent.REFUSED) else Consent.UNKNOWN


def _visitor_key(request, consent: str) -> str | None:
    """The key this browser already has: the signed first-party cookie with consent, the
    session or the signed browser-session cookie otherwise (and as a fallback: they may
    predate the consent)."""
    if consent == Consent.GRANTED:
        key = request.get_signed_cookie(VISITOR_COOKIE, default=None, salt=VISITOR_COOKIE_SALT)
        if key:
            return key
    session = getattr(request, "session", None)
    key = session.get(VISITOR_SESSION_KEY) if session is not None else None
    return key or request.get_signed_cookie(
        VISITOR_SESSION_COOKIE, default=None, salt=VISITOR_SESSION_COOKIE_SALT
    )


def visitor_known(request) -> bool:
    """Whether this browser carries a visitor key (no query: the banner asks only them)."""
    return bool(_visitor_key(request, consent_of(request)))


def visitor_of(request) -> Visitor | None:
    """The visitor this browser already is (cookie with consent, else session), or None.
    Makes nothing: a browser that never opened a share link has no visitor."""
    key = _visitor_key(request, consent_of(request))
    return Visitor.objects.filter(key=key).first() if key else None


def _visitor_for(request, consent: str) -> tuple[Visitor, bool]:
    """The browser's visitor, made if it has none (or an unknown key); and whether it is
    new to the browser (the door then gives it the key: ``sbs_vid`` with consent, else
    ``sbs_svid``). Nothing is written to the session: a return costs no UPDATE of it.
    One plain statement each way (the landing's hot path): a SELECT by key, or an INSERT."""
    key = _visitor_key(request, consent)
    visitor = _visitor_by_key(key) if key else None
    if visitor is None:
        visitor = _visitor_insert(consent=consent)
    return visitor, visitor.key != key


def consent_record(*, request, decision: str) -> Visitor | None:
    """Remember the browser's decision on its visitor row. With consent the browser gets
    a visitor (the door then puts its key in a cookie); a refusal keeps any existing
    visitor for this session only and makes none."""
    if decision not in (Consent.GRANTED, Consent.REFUSED):
        raise UnknownConsentDecision()
    key = _visitor_key(request, consent_of(request))
    visitor = Visitor.objects.filter(key=key).first() if key else None
    if decision == Consent.GRANTED:
        if visitor is None:
            visitor = Visitor.objects.create(consent=decision)
        request.session.pop(VISITOR_SESSION_KEY, None)
    elif visitor is not None:
        request.session[VISITOR_SESSION_KEY] = visitor.key
    if visitor is not None and visitor.consent != decision:
        Visitor.objects.filter(pk=visitor.pk).update(consent=decision)
        visitor.consent = decision
    return visitor


# --- Clicks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClickOutcome:
    link_id: int
    is_preview: bool
    # The browser's visitor (None for a preview or an uncounted click); with consent the
    # door keeps its key in the ``sbs_vid`` cookie.
    visitor: Visitor | None = None
    counted: bool = True
    flagged: bool = False
    # The same browser came back to the same link within the visit window: no new click.
    same_visit: bool = False
    # The visitor was made (or found) by this click and the browser does not carry its
    # key yet: the door sets the cookie.
    new_to_browser: bool = False


# Each click counts against every limit (group, what it counts per, its setting): one
# source on one link; one source across all links, a minute and a day (the hash itself
# changes with the day).
_CLICK_LIMITS = (
    ("sidebyside.referral_click", "link", "CLICK_RATE"),
    ("sidebyside.referral_click_source", "source", "CLICK_SOURCE_RATE"),
    ("sidebyside.referral_click_source_day", "source", "CLICK_SOURCE_DAY_RATE"),
)


def _flood_usage(request, *, link_id: int, source: str) -> dict | None:
    """The usage of the first limit this click goes past (``should_limit``), else of the
    last one; None when rate limiting is off."""
    keys = {"link": f"{link_id}:{source}", "source": source}
    found = None
    for group, per, setting in _CLICK_LIMITS:
        usage = get_usage(
            request,
            group=group,
            key=lambda _group, _request, key=keys[per]: key,
            rate=settings.REFERRALS[setting],
            increment=True,
        )
        if usage is not None and (found is None or not found["should_limit"]):
            found = usage
    return found


def visit_seconds() -> int:
    """How long a return of the same browser to the same link is the same visit (an
    analytics visit: answering the consent banner, which goes back to the page, a reload,
    the back button)."""
    return int(settings.REFERRALS.get("VISIT_MINUTES", 30) * 60)


def _same_visit(request, code: str) -> bool:
    # The signer checks the cookie's own timestamp: older than the window, it is ignored.
    last = request.get_signed_cookie(
        VISIT_COOKIE, default=None, salt=VISIT_COOKIE_SALT, max_age=visit_seconds()
    )
    return last == code


def click_record(request, *, link_id: int, channel: str, code: str) -> ClickOutcome:
    """Count one request for ``/r/<code>/``, the link ``link_id`` (its ``channel`` is
    copied on the click); the door has found the link (``landing_page.link_page_get``).

    A crawler's fetch is a preview, never a visitor. A browser that had a click counted
    on this link within ``visit_seconds()`` (its ``sbs_visit`` cookie, set by the door
    for a counted click) is on the same visit: nothing is written, nothing read. Past
    ``REFERRALS["CLICK_RATE"]`` from one source (address hash) on one link, or past
    ``CLICK_SOURCE_RATE`` / ``CLICK_SOURCE_DAY_RATE`` from one source on all links, clicks
    are no longer counted: the first one over writes a single ``flagged`` row and the
    rollup then counts that source once on that link for the day (``referrals.rollups``).
    A click that made its visitor (a browser never seen, or one that dropped its cookies)
    says so (``new_visitor``): the rollup counts those once per source, link and day. A
    counted click is one INSERT (after the visitor's SELECT, or its INSERT for a browser
    never seen), through the ORM."""
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    crawler = tracking.crawler_name(user_agent)
    is_preview = crawler is not None
    if not is_preview and _same_visit(request, code):
        return ClickOutcome(link_id=link_id, is_preview=False, counted=False, same_visit=True)
    source = tracking.ip_hash(client_address(request))
    row = {
        "link": link_id,
        "visitor": None,
        "channel": channel,
        "at": timezone.now(),
        "is_preview": is_preview,
        "flagged": False,
        "new_visitor": False,
        "ip_hash": source,
        "user_agent_family": (crawler or tracking.user_agent_family(user_agent))[:40],
    }
    usage = _flood_usage(request, link_id=link_id, source=source)
    if usage is not None and usage["should_limit"]:
        flagged = usage["count"] == usage["limit"] + 1
        if flagged:
            _click_create(row | {"flagged": True})
            log.warning("Click flood on share link %s from one source: flagged.", link_id)
        return ClickOutcome(link_id=link_id, is_preview=is_preview, counted=False, flagged=flagged)
    if is_preview:
        _click_create(row)
        return ClickOutcome(link_id=link_id, is_preview=True)
    consent = consent_of(request)
    visitor, new_to_browser = _visitor_for(request, consent)
    # A visitor made by this click: the rollup counts such visitors once per source, link
    # and day, so a script that drops its cookies is not a new visitor each time.
    _click_create(row | {"visitor": visitor.pk, "new_visitor": new_to_browser})
    return ClickOutcome(
        link_id=link_id, is_preview=False, visitor=visitor, new_to_browser=new_to_browser
    )


def _click_create(row: dict) -> None:
    """One ``INSERT`` of the click ``row`` (field name → value, foreign keys by id)."""
    Click.objects.create(
        **{(f"{name}_id" if name in ("link", "visitor") else name): v for name, v in row.items()}
    )


def _visitor_insert(*, consent: str) -> Visitor:
    return Visitor.objects.create(key=new_visitor_key(), consent=consent, first_seen=timezone.now())


def _visitor_by_key(key: str) -> Visitor | None:
    """The visitor of ``key`` (its id and consent; the rest loads if asked), or None."""
    return Visitor.objects.only("id", "key", "consent").filter(key=key).first()


# --- Incentives: rewards and the credit they give (docs/referrals.md, "Incentives") ------
#
# Locks are always taken rewards first (sorted by id), then their uses: earning, reserving,
# releasing, spending and reversing may run at once (two checkouts of the same sharer, a
# refund of the friend) without a deadlock, and each re-reads under its lock.


def incentive_on() -> bool:
    return bool(settings.REFERRALS["INCENTIVE"])


def reward_earn(*, conversion: Conversion) -> Reward | None:
    """A friend's booking was credited to a share (``conversion``, kind ``booking``): with
    ``REFERRALS["INCENTIVE"]`` on, its sharer earns ``REWARD_CENTS`` of credit, once per
    friend ever (the first booking that came through someone's share; a later one, through
    any link, earns nothing: the unique constraint). Never for the sharer themselves
    (attribution already skips one's own links; checked again here and by a constraint).
    Nothing when the incentive is off, the amount is not positive, or the row exists."""
    if not incentive_on() or conversion.kind != ConversionKind.BOOKING:
        return None
    amount = int(settings.REFERRALS["REWARD_CENTS"])
    sharer_id = conversion.link.sharer_id
    if amount <= 0 or conversion.user_id is None or conversion.user_id == sharer_id:
        return None
    try:
        with transaction.atomic():
            return Reward.objects.create(
                sharer_id=sharer_id,
                friend_id=conversion.user_id,
                conversion=conversion,
                link=conversion.link,
                amount_cents=amount,
                currency=(conversion.currency or settings.SIDEBYSIDE["CURRENCY"]).upper(),
                earned_at=conversion.at,
            )
    except IntegrityError:
        return None  # this friend already earned someone a reward


def reward_reverse(*, booking_id: int, friend_id: int) -> Reward | None:
    """The friend's booking was refunded (``booking.ticket_refunded``). Once the friend no
    longer travels (none of their tickets of that booking is valid) they did not convert:
    the reward's unspent part is taken back (``reversed_cents``) and it is ``reversed``;
    a part reserved at a checkout is taken back when released, a part spent stays spent
    (the sharer's own booking stands; nobody is charged afterwards). A reward already
    ``spent`` in full is left as it is. A friend who cancels one leg and keeps another
    still travels: nothing changes. Idempotent."""
    with transaction.atomic():
        reward_id = (
            Reward.objects.filter(conversion__booking_id=booking_id, conversion__user_id=friend_id)
            .values_list("pk", flat=True)
            .first()
        )
        if reward_id is None:
            return None
        reward = Reward.objects.select_for_update().get(pk=reward_id)
        if reward.state != Reward.State.EARNED:
            return reward
        if Ticket.objects.filter(
            booking_id=booking_id, traveller_id=friend_id, state=Ticket.State.VALID
        ).exists():
            return reward
        reward.reversed_cents = reward.amount_cents - reward.used_cents
        reward.state = Reward.State.REVERSED
        reward.reversed_at = timezone.now()
        reward.save(update_fields=["reversed_cents", "state", "reversed_at"])
    return reward


class RewardCredits:
    """The credit source ``referrals`` registers with ``payments.credits`` (in
    ``ReferralsConfig.ready``): a sharer's rewards pay part of their own share. Called
    inside the payments' transactions; oldest reward first."""

    def available(self, *, user_ids: list[int], currency: str) -> dict[int, int]:
        rows = (
            Reward.objects.filter(
                sharer_id__in=user_ids, state=Reward.State.EARNED, currency=currency.upper()
            )
            .values("sharer_id")
            .annotate(left=Sum(F("amount_cents") - F("used_cents") - F("reversed_cents")))
        )
        return {row["sharer_id"]: row["left"] for row in rows if row["left"] > 0}

    def reserve(self, *, share, cents: int) -> int:
        rewards = Reward.objects.select_for_update().filter(
            sharer_id=share.traveller_id,
            state=Reward.State.EARNED,
            currency=share.currency.upper(),
        )
        wanted, uses = cents, []
        for reward in rewards.order_by("earned_at", "pk"):
            take = min(reward.left_cents, wanted)
            if take <= 0:
                continue
            Reward.objects.filter(pk=reward.pk).update(used_cents=F("used_cents") + take)
            uses.append(RewardUse(reward=reward, share_id=share.pk, amount_cents=take))
            wanted -= take
            if not wanted:
                break
        RewardUse.objects.bulk_create(uses)
        return cents - wanted

    def release(self, *, share_ids: list[int]) -> int:
        return reward_uses_release(share_ids=share_ids)


def _uses_locked(share_ids, state: str) -> tuple[dict[int, Reward], list[RewardUse]]:
    """Under the caller's transaction: the rewards behind these shares' uses, then the
    uses still in ``state``, both locked (rewards first, by id)."""
    reward_ids = sorted(
        set(
            RewardUse.objects.filter(share_id__in=share_ids, state=state).values_list(
                "reward_id", flat=True
            )
        )
    )
    if not reward_ids:
        return {}, []
    rewards = {
        r.pk: r for r in Reward.objects.select_for_update().filter(pk__in=reward_ids).order_by("pk")
    }
    uses = list(
        RewardUse.objects.select_for_update()
        .filter(share_id__in=share_ids, state=state, reward_id__in=reward_ids)
        .order_by("pk")
    )
    return rewards, uses


@transaction.atomic
def reward_uses_release(*, share_ids) -> int:
    """The shares were dropped or their checkout cancelled: their reserved credit goes
    back to its rewards (to be spent on another checkout) — except the part of a reward
    reversed meanwhile, which is taken back now. Idempotent. Returns the cents released."""
    rewards, uses = _uses_locked(list(share_ids), RewardUse.State.RESERVED)
    released = 0
    for use in uses:
        reward = rewards[use.reward_id]
        reward.used_cents -= use.amount_cents
        if reward.state == Reward.State.REVERSED:
            reward.reversed_cents += use.amount_cents
        released += use.amount_cents
    for reward in rewards.values():
        reward.save(update_fields=["used_cents", "reversed_cents"])
    RewardUse.objects.filter(pk__in=[u.pk for u in uses]).update(
        state=RewardUse.State.RELEASED, updated_at=timezone.now()
    )
    return released


@transaction.atomic
def reward_uses_spend(*, trip_id: int) -> int:
    """The trip's booking is confirmed (``booking.booking_confirmed``): the credit
    reserved on its captured shares is spent, and a reward spent in full is ``spent``.
    Idempotent. Returns the cents spent now."""
    share_ids = list(
        Share.objects.filter(
            checkout__trip_id=trip_id,
            checkout__state=Checkout.State.CONFIRMED,
            state=Share.State.CAPTURED,
            credit_cents__gt=0,
        ).values_list("pk", flat=True)
    )
    if not share_ids:
        return 0
    rewards, uses = _uses_locked(share_ids, RewardUse.State.RESERVED)
    if not uses:
        return 0
    now = timezone.now()
    RewardUse.objects.filter(pk__in=[u.pk for u in uses]).update(
        state=RewardUse.State.SPENT, updated_at=now
    )
    still_reserved = set(
        RewardUse.objects.filter(
            reward_id__in=list(rewards), state=RewardUse.State.RESERVED
        ).values_list("reward_id", flat=True)
    )
    for reward in rewards.values():
        if (
            reward.state == Reward.State.EARNED
            and reward.left_cents == 0
            and reward.pk not in still_reserved
        ):
            reward.state = Reward.State.SPENT
            reward.spent_at = now
            reward.save(update_fields=["state", "spent_at"])
    return sum(u.amount_cents for u in uses)
