from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib import admin

        from core import jobs
        from payments import credits
        from referrals import receivers
        from referrals.rollups import rollup_job
        from referrals.services import RewardCredits

        # The admin's index links to the staff dashboard (its own template, extending the
        # admin's).
        admin.site.index_template = "referrals/admin_index.html"

        # Sign-ups, logins, trips, bookings and refunds: attribution (referrals.attribution).
        receivers.connect()

        # A sharer's rewards pay part of their own share at checkout; payments calls the
        # source through its registry, never imports referrals (docs/referrals.md).
        credits.register("referral_rewards", RewardCredits())

        from groups import exports
        from referrals.exports import (
            REFERRAL_KEPT,
            REFERRAL_MODELS,
            referrals_erase,
            referrals_export,
        )

        # "Download my data" and account deletion (docs/privacy.md).
        exports.register(
            "referrals",
            referrals_export,
            models=REFERRAL_MODELS,
            erase=referrals_erase,
            kept=REFERRAL_KEPT,
        )

        # Clicks fold into daily rows for the dashboard; the job is idempotent (an upsert
        # per link and day), so several workers may run it.
        jobs.register(
            "referrals_rollup",
            rollup_job,
            every_seconds=settings.REFERRALS["ROLLUP_EVERY_SECONDS"],
        )
