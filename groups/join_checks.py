"""Who may still join a friend group, decided by the apps above ``groups``.

A group plans trips, and ``groups`` knows nothing of them; yet once one of its trips is
being paid for or is booked, a newcomer would be a member with no seat, no share and no
ticket (issue 23, "joining after planning"). So ``booking`` registers a check in its
``AppConfig.ready()``::

    from groups import join_checks
    join_checks.register("trips", trip_join_check)  # trip_join_check(group_id) -> None

A check raises a domain error to refuse. ``groups.services`` runs every check, under the
group's lock, before it admits anyone (a link, a personal invitation, a public join, an
approval) and before it makes a new invitation.
"""

from collections.abc import Callable

_checks: dict[str, Callable[[int], None]] = {}


def register(name: str, check: Callable[[int], None]) -> None:
    """Registering the same name again replaces the check (``ready()`` may run twice)."""
    _checks[name] = check


def join_check(group_id: int) -> None:
    """Raise the first refusal of a registered check; ``None`` when anyone may join."""
    for name in sorted(_checks):
        _checks[name](group_id)
