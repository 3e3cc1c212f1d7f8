"""Credits that pay part of a traveller's own share: the registry of credit sources.

Imports point ``referrals → payments``, never back, yet a referral reward must lower the
sharer's share at checkout. So ``payments`` keeps a registry and an app above registers
its source in its ``AppConfig.ready`` (``referrals`` registers its rewards; ``payments``
its own delay compensations taken as credit, ``payments.disruptions.CompensationCredits``).
The registry calls the sources, never names them:

- at ``checkout_start``, inside its transaction, after the shares are priced:
  ``shares_credit_apply`` asks each source what each traveller has (``available``, one
  call for the whole group) and reserves it on their share (``reserve``). The share's
  ``amount_cents`` drops by what was reserved and ``credit_cents`` records it; the items
  (and so the tickets) keep their price;
- when a share is dropped (the ``go_ahead`` policy) or its checkout cancelled, inside that
  transaction: ``shares_credit_release`` gives each source its reservations back.

A reservation becomes spent when the booking is confirmed: the source learns that from
``booking.signals.booking_confirmed`` like any other app above.

**Stripe's minimum.** A PaymentIntent must be at least 50 cents (EUR); a credit never
takes a share below ``MIN_CHARGE_CENTS``, so every share still has its PaymentIntent and
the payment path (authorise all, then capture all) needs no special case for a share
paid by credit alone. The rest of the credit stays for a later trip.
"""

from dataclasses import dataclass
from typing import Protocol

from django.utils import timezone

from payments.models import Share

# Stripe's smallest charge in EUR (and in most currencies we could sell in).
MIN_CHARGE_CENTS = 50


class CreditSource(Protocol):
    def available(self, *, user_ids: list[int], currency: str) -> dict[int, int]:
        """What each of these people may spend now, in cents of ``currency`` (missing or
        0: nothing). Called inside ``checkout_start``'s transaction."""

    def reserve(self, *, share: Share, cents: int) -> int:
        """Set aside up to ``cents`` for ``share`` (its traveller's credit, locked and
        checked again). Returns what was reserved, between 0 and ``cents``."""

    def release(self, *, share_ids: list[int]) -> int:
        """The reservations of these shares go back to their owners (idempotent: a share
        released twice, or never credited, changes nothing). Returns the cents returned."""


@dataclass(frozen=True)
class _Registered:
    name: str
    source: CreditSource


_sources: dict[str, _Registered] = {}


def register(name: str, source: CreditSource) -> None:
    """Add (or replace, e.g. when ``ready`` runs twice) a credit source under ``name``."""
    _sources[name] = _Registered(name=name, source=source)


def unregister(name: str) -> None:
    _sources.pop(name, None)


def sources() -> list[CreditSource]:
    """In the order of their names: the same order for every checkout."""
    return [_sources[name].source for name in sorted(_sources)]


def shares_credit_apply(shares: list[Share]) -> list[Share]:
    """Under ``checkout_start``'s transaction (the trip locked, the shares just made):
    each traveller's credit lowers their own share, never below ``MIN_CHARGE_CENTS``.
    Writes the shares that changed; returns them. One ``available`` call per source
    whatever the group's size, then one ``reserve`` per traveller who has credit."""
    changed: dict[int, Share] = {}
    for source in sources():
        room = {s.pk: s.amount_cents - MIN_CHARGE_CENTS for s in shares}
        candidates = [s for s in shares if room[s.pk] > 0]
        if not candidates:
            break
        currency = candidates[0].currency
        available = source.available(
            user_ids=sorted({s.traveller_id for s in candidates}), currency=currency
        )
        for share in candidates:
            want = min(room[share.pk], int(available.get(share.traveller_id) or 0))
            if want <= 0:
                continue
            got = source.reserve(share=share, cents=want)
            if not 0 <= got <= want:
                raise ValueError(f"a credit source reserved {got} of {want} cents")
            if got:
                share.amount_cents -= got
                share.credit_cents += got
                changed[share.pk] = share
    if changed:
        now = timezone.now()
        for share in changed.values():
            Share.objects.filter(pk=share.pk).update(
                amount_cents=share.amount_cents,
                credit_cents=share.credit_cents,
                updated_at=now,
            )
    return list(changed.values())


def shares_credit_release(share_ids) -> int:
    """Under the transaction that drops these shares or cancels their checkout: their
    reserved credit returns to its owners. ``Share.credit_cents`` keeps what had been
    applied (the share is dead; it is history). Returns the cents returned."""
    ids = sorted({int(i) for i in share_ids})
    if not ids:
        return 0
    if not Share.objects.filter(pk__in=ids, credit_cents__gt=0).exists():
        return 0  # no credit on any of them: no source needs asking
    return sum(source.release(share_ids=ids) for source in sources())
