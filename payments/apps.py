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

        from groups.signals import user_anonymising
        from payments import receivers

        # An account deleted with tickets still to use: cancelled and refunded to whoever
        # paid, in the deletion's transaction (issue 23).
        user_anonymising.connect(
            receivers.on_user_anonymising, dispatch_uid="payments.user_anonymising"
        )
