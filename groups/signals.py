"""Signals the higher apps listen to (``groups`` imports none of them).

``group_changed`` is sent after the transaction that changed a group commits, once per
change, with ``group_id``, ``kind`` (one of ``GROUP_EVENT_KINDS``) and ``user_id`` (whom
it is about). The live plan (``booking``) turns it into an event on each of the group's
trips and broadcasts it.
"""

from django.dispatch import Signal

GROUP_EVENT_KINDS = (
    "member_joined",
    "member_pending",
    "member_approved",
    "member_rejected",
    "member_left",
    "member_removed",
    "organiser_changed",
    "group_updated",
    "member_details_shared",
    "member_anonymised",
)

group_changed = Signal()

# Sent inside the transaction that anonymises a user (account deleted), with ``user_id``:
# higher apps anonymise what they hold about the person (their bookings' financial
# records are kept, without the name).
user_anonymising = Signal()

# Sent inside the transaction that is about to end someone's membership (``kind``:
# ``member_left`` or ``member_removed``), with ``group_id`` and ``user_id``, the group's row
# locked. A higher app whose rule forbids it (a checkout under way, a valid ticket) raises
# its domain error: nothing is written, the door shows the refusal. Receivers take the
# locks they need after the group's (core/locking.py).
membership_ending = Signal()
