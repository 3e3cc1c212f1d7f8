from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "booking"

    def ready(self) -> None:
        from booking.exports import trips_export
        from groups import exports

        # "Download my data" includes the person's trips (groups cannot import booking).
        exports.register("trips", trips_export)

        from booking.selectors import trip_join_check
        from groups import join_checks

        # Nobody joins a group whose trip is being paid for or is booked (issue 23).
        join_checks.register("trips", trip_join_check)

        from booking import plan, receivers
        from booking.presence import presence_cleanup
        from core import jobs
        from groups.signals import group_changed, membership_ending

        group_changed.connect(receivers.on_group_changed, dispatch_uid="booking.group_changed")
        membership_ending.connect(
            receivers.on_membership_ending, dispatch_uid="booking.membership_ending"
        )
        # The worker: holds run out when nobody of the trip is online; presence rows of
        # connections that died without a goodbye are forgotten.
        jobs.register("holds_keep_alive", plan.holds_keep_alive, every_seconds=30)
        jobs.register("holds_expire", plan.holds_expire, every_seconds=5)
        jobs.register("presence_cleanup", presence_cleanup, every_seconds=60)

        from booking import (
            checks,  # noqa: F401 - registers the live plan's system checks
            messages,
        )
        from notices import kinds

        # Essential messages (tickets, refunds): sent whatever the person's preferences.
        # News of the plan: follows the person's preference (one-click unsubscribe).
        kinds.register(
            "booking.train_chosen",
            object_type="booking.trip_leg",
            render=messages.train_chosen,
            essential=False,
        )
        kinds.register(
            "booking.booking_confirmed",
            object_type="booking.booking",
            render=messages.booking_confirmed,
        )
        kinds.register(
            "booking.ticket_cancelled",
            object_type="booking.ticket",
            render=messages.ticket_cancelled,
        )
