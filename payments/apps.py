from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from core import jobs
        from payments import deadlines

        # The worker: payment deadlines are applied with nobody online (go ahead, cancel,
        # grace), half-done confirmations and refunds resumed; the unpaid are reminded.
        jobs.register("payment_deadlines", deadlines.checkouts_deadline, every_seconds=10)
        jobs.register("payment_reminders", deadlines.payment_reminders, every_seconds=60)

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
