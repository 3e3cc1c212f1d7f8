from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "booking"

    def ready(self) -> None:
        from booking.exports import (
            TRAVEL_KEPT,
            TRAVEL_MODELS,
            travel_erase,
            travel_export,
            trips_export,
        )
        from groups import exports

        # "Download my data" includes the person's trips and travel (groups cannot import
        # booking); account deletion erases what is not kept (docs/privacy.md).
        exports.register("trips", trips_export, models=["booking.Trip"])
        exports.register(
            "travel", travel_export, models=TRAVEL_MODELS, erase=travel_erase, kept=TRAVEL_KEPT
        )

        from booking.selectors import trip_join_check
        from groups import join_checks

        # Nobody joins a group whose trip is being paid for or is booked (issue 23).
        join_checks.register("trips", trip_join_check)

        from booking import plan, plan_selectors, receivers
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
        # Disruptions: each trip a cancelled, late or re-vehicled train touches (batches).
        from booking import disruptions

        jobs.register(disruptions.JOB, disruptions.disruptions_apply, every_seconds=5)

        from booking import (
            checks,  # noqa: F401 - registers the live plan's system checks
            messages,
        )
        from notices import kinds

        # Who is on a trip's live page sees its news there: the outbox does not push them.
        kinds.online_register(lambda trip_id: plan_selectors.online_user_ids(trip_id=trip_id))
        # Essential messages (tickets, refunds): sent whatever the person's preferences.
        # News of the plan: follows the person's preference (one-click unsubscribe).
        kinds.register(
            "booking.train_chosen",
            object_type="booking.trip_leg",
            render=messages.train_chosen,
            push=messages.train_chosen_push,
            essential=False,
        )
        # The group's held seats ran out with nobody on the page (once per lapse: the
        # object is the ``holds_expired`` event).
        kinds.register(
            "booking.holds_lapsed",
            object_type="booking.trip_event",
            render=messages.holds_lapsed,
            push=messages.holds_lapsed_push,
            essential=False,
        )
        kinds.register(
            "booking.booking_confirmed",
            object_type="booking.booking",
            render=messages.booking_confirmed,
            push=messages.booking_confirmed_push,
        )
        kinds.register(
            "booking.ticket_cancelled",
            object_type="booking.ticket",
            render=messages.ticket_cancelled,
        )
        # A disruption (essential: the travellers' money and seats).
        # Re-routed: the new tickets, as at the booking (each traveller's valid tickets).
        kinds.register(
            "booking.rerouted", object_type="booking.booking", render=messages.booking_confirmed
        )
        for kind in ("train_cancelled", "choose_again", "train_delayed", "vehicle_swapped"):
            kinds.register(
                f"booking.{kind}",
                object_type="booking.disrupted_trip",
                render=messages.disruption,
                push=messages.disruption_push,
            )
