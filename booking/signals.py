"""Signals the higher apps listen to (``booking`` imports none of them). Each is sent after
the transaction that made the change has committed.

- ``trip_created``: ``trip_id``, ``user_id`` (the organiser).
- ``booking_confirmed``: ``booking_id``, ``trip_id``, ``traveller_ids``, ``amount_cents``
  (the sum of the tickets' prices), ``currency``.
- ``ticket_refunded``: ``booking_id``, ``ticket_id``, ``traveller_id``, ``refunded_cents``
  (this refund), ``currency``. To be sent by ``payments`` after the refund's commit, once
  the ticket's ``refunded_cents`` includes it (``referrals`` reads the tickets, so a
  repeated signal changes nothing).
"""

from django.dispatch import Signal

trip_created = Signal()
booking_confirmed = Signal()
ticket_refunded = Signal()
