"""What cancelling a ticket gives back: one rule, used by the quote the traveller reads
(``payments.selectors.ticket_cancel_quote``) and by the cancel itself
(``payments.services.ticket_cancel``), so the page never promises another amount than the
one refunded."""

from django.db.models import Sum

from booking.models import Ticket


def ticket_refund_amount(ticket: Ticket) -> int:
    """By the fare's rules alone: Flex (refundable) its price less the refund fee, never
    below zero; Standard nothing."""
    fare = ticket.fare_class
    if not fare.refundable:
        return 0
    return max(0, ticket.price_cents - fare.refund_fee_cents)


def ticket_refund_due(ticket: Ticket, share) -> int:
    """What goes back to the card for ``ticket`` of the traveller's ``share`` (None when
    the checkout had none): nothing when no payment of ours covers the share; when part of
    the share was paid by credit (``payments.credits``), at most what the card paid for
    the share less what its earlier cancelled tickets got back (the credit is spent, not
    refunded)."""
    if share is None or share.payment_id is None:
        return 0
    amount = ticket_refund_amount(ticket)
    if share.credit_cents:
        already = Ticket.objects.filter(
            booking_id=ticket.booking_id, traveller_id=ticket.traveller_id
        ).aggregate(n=Sum("refunded_cents"))["n"]
        amount = max(0, min(amount, share.amount_cents - (already or 0)))
    return amount
