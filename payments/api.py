"""The payments' REST door: a traveller's quote for cancelling a ticket, and the cancel.

Thin like the other APIs: a selector reads (``payments.selectors.ticket_cancel_quote``), a
service acts (``payments.services.ticket_cancel``: the fare's refund through Stripe with
an idempotency key, the seat released, the trip told), one serializer renders both
answers. Domain errors are rendered once by ``core.api_errors``. Only the ticket's own
traveller may (anyone else: 404 ``ticket_not_found``, as for a ticket that does not
exist); the friend who paid for the share gets the refund on their card but cannot cancel
someone else's seat. See docs/payments.md, "Cancelling a ticket".
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core.api import LoggedInApi, errors
from core.serializers import ErrorSerializer
from payments import selectors, services


class RefundSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    state = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])


class TicketCancelSerializer(serializers.Serializer):
    """A ticket's cancellation: before it (the quote) or after it (what was done)."""

    ticket_id = serializers.IntegerField()
    code = serializers.CharField()
    state = serializers.ChoiceField(choices=["valid", "cancelled"])
    cancellable = serializers.BooleanField(help_text="Valid, and its train has not left.")
    fare_class = serializers.CharField(help_text="The fare's code, e.g. flex-2.")
    refundable = serializers.BooleanField(help_text="Flex fares refund; Standard fares do not.")
    price_cents = serializers.IntegerField()
    fee_cents = serializers.IntegerField(help_text="What a refundable fare keeps.")
    refund_cents = serializers.IntegerField(
        help_text="What goes back to the card (after the cancel: what went back)."
    )
    currency = serializers.CharField()
    refund_to_payer = serializers.BooleanField(
        help_text="A friend paid this share: the refund goes to their card."
    )
    refund = RefundSerializer(allow_null=True, help_text="Once cancelled with a refund.")


def quote_data(quote: selectors.TicketCancelQuote) -> dict:
    refund = quote.refund
    return {
        "ticket_id": quote.ticket.pk,
        "code": quote.ticket.code,
        "state": quote.ticket.state,
        "cancellable": quote.cancellable,
        "fare_class": quote.ticket.fare_class.code,
        "refundable": quote.refundable,
        "price_cents": quote.price_cents,
        "fee_cents": quote.fee_cents,
        "refund_cents": quote.refund_cents,
        "currency": quote.currency,
        "refund_to_payer": quote.refund_to_payer,
        "refund": None
        if refund is None
        else {
            "amount_cents": refund.amount_cents,
            "currency": refund.currency,
            "state": refund.state,
        },
    }


class TicketCancelApi(LoggedInApi):
    @extend_schema(
        responses={200: TicketCancelSerializer, **errors(403, 404)},
        summary="What cancelling my ticket would refund (the ticket's traveller)",
        description=(
            "By the fare's rules: Flex refunds its price less the fare's fee, Standard "
            "nothing. Anyone but the ticket's traveller gets 404 ticket_not_found."
        ),
    )
    def get(self, request, ticket_id: int):
        quote = selectors.ticket_cancel_quote(ticket_id=ticket_id, viewer=request.user)
        return Response(TicketCancelSerializer(quote_data(quote)).data)

    @extend_schema(
        request=None,
        responses={
            200: TicketCancelSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="departure_not_bookable: the train has left"
            ),
            **errors(403, 404),
        },
        summary="Cancel my ticket: the seat is released, the fare's refund goes to the card",
        description=(
            "Idempotent: cancelling a ticket already cancelled answers the same cancellation "
            "again and refunds nothing more (the refund has an idempotency key at Stripe). "
            "When Stripe cannot be reached the refund stays pending and is asked again by "
            "the worker."
        ),
    )
    def post(self, request, ticket_id: int):
        services.ticket_cancel(ticket_id=ticket_id, by=request.user)
        quote = selectors.ticket_cancel_quote(ticket_id=ticket_id, viewer=request.user)
        return Response(TicketCancelSerializer(quote_data(quote)).data)


class DisruptionRefundSerializer(serializers.Serializer):
    ticket_id = serializers.IntegerField()
    ticket_cancelled = serializers.BooleanField()
    refunded_cents = serializers.IntegerField(help_text="All given back on this ticket.")
    currency = serializers.CharField()
    refund = RefundSerializer(allow_null=True, help_text="This refund (none: nothing paid).")


class TicketDisruptionRefundApi(LoggedInApi):
    @extend_schema(
        request=None,
        responses={200: DisruptionRefundSerializer, **errors(403, 404, 409)},
        summary="My train is cancelled: refund my ticket in full",
        description=(
            "Regulation (EU) 2021/782, art. 18: the full price, whatever the fare, back to "
            "the card that paid (idempotency key disruption-<ticket>-<payment key>). "
            "404 choice_not_found: not your ticket, or its train was not cancelled; 409 "
            "choice_already_made (a second call refunds nothing more) or "
            "choice_deadline_passed."
        ),
    )
    def post(self, request, ticket_id: int):
        from payments.disruptions import disruption_refund_choose

        chosen = disruption_refund_choose(ticket_id=ticket_id, by=request.user)
        refund = chosen.refund
        return Response(
            DisruptionRefundSerializer(
                {
                    "ticket_id": chosen.ticket.pk,
                    "ticket_cancelled": chosen.ticket.state == "cancelled",
                    "refunded_cents": chosen.ticket.refunded_cents,
                    "currency": chosen.ticket.currency,
                    "refund": None
                    if refund is None
                    else {
                        "amount_cents": refund.amount_cents,
                        "currency": refund.currency,
                        "state": refund.state,
                    },
                }
            ).data
        )
