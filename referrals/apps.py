from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"

    def ready(self) -> None:
        from django.conf import settings

        from core import jobs
        from payments import credits
        from referrals import receivers
        from referrals.rollups import rollup_job
        from referrals.services import RewardCredits

        # Sign-ups, logins, trips, bookings and refunds: attribution (referrals.attribution).
        receivers.connect()

        # A sharer's rewards pay part of their own share at checkout; payments calls the
        # source through its registry, never imports referrals (docs/referrals.md).
        credits.register("referral_rewards", RewardCredits())

        # Clicks fold into daily rows for the dashboard; the job is idempotent (an upsert
        # per link and day), so several workers may run it.
        jobs.register(
            "referrals_rollup",
            rollup_job,
            every_seconds=settings.REFERRALS["ROLLUP_EVERY_SECONDS"],
        )
