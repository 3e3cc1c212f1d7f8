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

        from notices import kinds
        from payments import messages

        # Essential messages (money): sent whatever the person's preferences.
        kinds.register(
            "payments.checkout_started",
            object_type="payments.checkout",
            render=messages.checkout_started,
        )
        kinds.register(
            "payments.payment_received",
            object_type="payments.payment",
            render=messages.payment_received,
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
