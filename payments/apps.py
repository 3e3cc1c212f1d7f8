from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from core import jobs
        from groups.signals import membership_ending, user_anonymising
        from payments import deadlines, receivers, tasks

        membership_ending.connect(
            receivers.on_membership_ending, dispatch_uid="payments.membership_ending"
        )

        # The worker: payment deadlines are applied with nobody online (go ahead, cancel,
        # grace), half-done confirmations and refunds resumed; the unpaid are reminded.
        jobs.register("payment_deadlines", deadlines.checkouts_deadline, every_seconds=10)
        jobs.register("payment_reminders", deadlines.payment_reminders, every_seconds=60)
        # Work off the request (payments.tasks): webhook events, confirmations (captures,
        # tickets), payments started and never authorised.
        jobs.register("stripe_events", tasks.stripe_events_handle, every_seconds=1)
        jobs.register("payment_confirmations", tasks.checkout_confirmations, every_seconds=1)
        jobs.register("payment_starts_expire", tasks.payment_starts_expire, every_seconds=30)

        # An account deleted with tickets still to use: cancelled and refunded to whoever
        # paid, in the deletion's transaction (issue 23).
        user_anonymising.connect(
            receivers.on_user_anonymising, dispatch_uid="payments.user_anonymising"
        )

        from groups import exports
        from payments.exports import PAYMENT_KEPT, PAYMENT_MODELS, payments_export

        # "Download my data": shares, payments, refunds (kept on deletion, for accounting).
        exports.register("payments", payments_export, models=PAYMENT_MODELS, kept=PAYMENT_KEPT)
        # Disruptions (docs/disruptions.md): inside the transaction that applies one to a
        # trip, payments goes first (checkouts cancelled, delays compensated); the refunds
        # Stripe could not take at once are asked again.
        from booking.signals import trip_disrupting
        from payments import disruptions

        trip_disrupting.connect(
            disruptions.on_trip_disrupting, dispatch_uid="payments.trip_disrupting"
        )
        jobs.register("disruption_refunds", disruptions.disruption_refunds_send, every_seconds=5)
        # Delay compensation a traveller took as credit (art. 19(4)) pays part of their
        # share on a next trip, through the same registry as referral rewards.
        from payments import credits

        credits.register("delay_compensations", disruptions.CompensationCredits())

        from notices import kinds
        from payments import messages

        # Essential messages (money): sent whatever the person's preferences.
        kinds.register(
            "payments.checkout_started",
            object_type="payments.checkout",
            render=messages.checkout_started,
            push=messages.checkout_started_push,
        )
        kinds.register(
            "payments.payment_received",
            object_type="payments.payment",
            render=messages.payment_received,
        )
        # Pushed only, to the payer's fellow travellers (no e-mail: it would be one per
        # payment to everyone).
        kinds.register(
            "payments.friend_paid",
            object_type="payments.payment",
            render=None,
            push=messages.friend_paid_push,
            essential=False,
        )
        # One kind per reminder: each is sent once per share (the outbox's uniqueness).
        for number in (1, 2):
            kinds.register(
                f"payments.reminder_{number}",
                object_type="payments.share",
                render=deadlines.reminder,
            )
        kinds.register(
            "payments.checkout_cancelled",
            object_type="payments.checkout",
            render=messages.checkout_cancelled,
        )
        kinds.register(
            "payments.traveller_dropped",
            object_type="payments.checkout",
            render=messages.traveller_dropped,
        )
        kinds.register(
            "payments.delay_compensation",
            object_type="booking.disruption",
            render=messages.delay_compensation,
        )
