"""Signals the higher apps listen to (``booking`` imports none of them). Each is sent after
the transaction that made the change has committed.

- ``trip_created``: ``trip_id``, ``user_id`` (the organiser).
- ``booking_confirmed``: ``booking_id``, ``trip_id``, ``traveller_ids``, ``amount_cents``
  (the sum of the tickets' prices), ``currency``.
- ``ticket_refunded``: ``booking_id``, ``ticket_id``, ``traveller_id``, ``refunded_cents``
  (this refund), ``currency``. To be sent by ``payments`` after the refund's commit, once
  the ticket's ``refunded_cents`` includes it (``referrals`` reads the tickets, so a
  repeated signal changes nothing).
- ``trip_disrupting`` (the exception: sent INSIDE the transaction that applies a
  disruption to one trip, before the trip is locked, so that ``payments`` locks its rows
  first and does its part in the same transaction): ``trip_id``, ``disruption_id``,
  ``departure_id``, ``what`` (``cancelled``, ``vehicle_swapped``, ``delay_expected``,
  ``delay_actual``). A receiver that raises ``core.errors.Busy`` leaves the trip for the
  worker's next pass.
"""

from django.dispatch import Signal

trip_created = Signal()
booking_confirmed = Signal()
ticket_refunded = Signal()
trip_disrupting = Signal()
