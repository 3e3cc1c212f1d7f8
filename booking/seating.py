"""Finding seats for friends who want to sit together: pure functions over plain data, no
database (``booking.plan.sit_together`` loads the data and takes the seats).

The best block, in order of preference, for ``n`` friends of one comfort class:

1. ``table``: all at one table (a table of four takes up to four);
2. ``side_by_side``: a run of seats each next to another (no aisle between);
3. ``facing``: a cluster joined by side-by-side and facing seats;
4. ``coach``: the same coach, in the fewest rows.

Within a tier the block in the fewest rows wins, then the one nearest the front of the
train. When no coach has room for everyone, ``best_split`` proposes the fewest groups.

When some of the group already sit on the train (a friend who joined late), ``near_block``
looks next to them first, in the same order: at their table, then side by side with them,
then joined to them by side-by-side and facing seats, then across the aisle in their own
row (``across_aisle``: next to them as people see it, though no seat link joins them),
then in their coach in the rows nearest theirs; only when none of these has room does a
new block (``best_block``) come.
``outcome_text`` says which it was, and says "together" only when it is true.
"""

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _

TIERS = ("table", "side_by_side", "facing", "across_aisle", "coach")


@dataclass(frozen=True)
class FreeSeat:
    id: int
    coach: int
    deck: str
    row: int
    column: int
    table: str


@dataclass(frozen=True)
class Block:
    tier: str
    seat_ids: tuple[int, ...]


def _order(seat: FreeSeat) -> tuple:
    return (seat.coach, seat.deck, seat.row, seat.column)


def _span(seats: Iterable[FreeSeat]) -> tuple[int, int]:
    seats = list(seats)
    decks = {(s.coach, s.deck) for s in seats}
    rows = [s.row for s in seats]
    return (len(decks), max(rows) - min(rows))


def _best(candidates: list[list[FreeSeat]], tier: str) -> Block | None:
    if not candidates:
        return None
    chosen = min(candidates, key=lambda seats: (_span(seats), min(_order(s) for s in seats)))
    return Block(tier=tier, seat_ids=tuple(s.id for s in sorted(chosen, key=_order)))


def _connected(
    seats: dict[int, FreeSeat], edges: dict[int, set[int]], n: int
) -> list[list[FreeSeat]]:
    """Connected sets of ``n`` free seats over ``edges`` (one per start seat: its BFS)."""
    found = []
    for start in sorted(seats.values(), key=_order):
        picked, queue, seen = [], deque([start.id]), {start.id}
        while queue and len(picked) < n:
            current = queue.popleft()
            picked.append(seats[current])
            neighbours = [i for i in edges.get(current, ()) if i in seats]
            for other in sorted(neighbours, key=lambda i: _order(seats[i])):
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        if len(picked) == n:
            found.append(picked)
    return found


def best_block(
    free: list[FreeSeat],
    n: int,
    *,
    side: dict[int, set[int]],
    facing: dict[int, set[int]],
) -> Block | None:
    """The best block of ``n`` seats among ``free`` (one comfort class), or None when no
    coach has ``n`` free seats. ``side`` and ``facing``: seat id → neighbour ids."""
    if n <= 0:
        return Block(tier="table", seat_ids=())
    by_id = {s.id: s for s in free}
    tables: dict[tuple[int, str], list[FreeSeat]] = defaultdict(list)
    for seat in free:
        if seat.table:
            tables[(seat.coach, seat.table)].append(seat)
    candidates = [sorted(seats, key=_order)[:n] for seats in tables.values() if len(seats) >= n]
    block = _best(candidates, "table")
    if block:
        return block
    block = _best(_connected(by_id, side, n), "side_by_side")
    if block:
        return block
    both = {i: side.get(i, set()) | facing.get(i, set()) for i in by_id}
    block = _best(_connected(by_id, both, n), "facing")
    if block:
        return block
    coaches: dict[int, list[FreeSeat]] = defaultdict(list)
    for seat in free:
        coaches[seat.coach].append(seat)
    candidates = []
    for seats in coaches.values():
        seats.sort(key=_order)
        candidates += [seats[i : i + n] for i in range(len(seats) - n + 1)]
    return _best(candidates, "coach")


def best_split(free: list[FreeSeat], n: int) -> list[tuple[int, ...]]:
    """When no coach takes everyone: the fewest groups, each in one coach, biggest first.
    Fewer than ``n`` seats in all when the class has not enough free seats."""
    coaches: dict[int, list[FreeSeat]] = defaultdict(list)
    for seat in free:
        coaches[seat.coach].append(seat)
    groups = []
    left = n
    for seats in sorted(coaches.values(), key=lambda s: (-len(s), s[0].coach)):
        if left <= 0:
            break
        seats.sort(key=_order)
        take = seats[: min(left, len(seats))]
        groups.append(tuple(s.id for s in take))
        left -= len(take)
    return groups


def _grown(
    free: dict[int, FreeSeat], anchors: set[int], edges: dict[int, set[int]], n: int
) -> list[FreeSeat] | None:
    """``n`` free seats joined to the ``anchors`` (the group's seats) over ``edges``, each
    through the anchors or a seat taken before it: a breadth-first walk out from them,
    nearest first. None when fewer than ``n`` are reachable."""
    picked: list[FreeSeat] = []
    seen = set(anchors)
    queue = deque(sorted(anchors))
    while queue and len(picked) < n:
        current = queue.popleft()
        if current in free:
            picked.append(free[current])
        neighbours = [i for i in edges.get(current, ()) if i in free and i not in seen]
        for other in sorted(neighbours, key=lambda i: _order(free[i])):
            seen.add(other)
            queue.append(other)
    return picked if len(picked) == n else None


def near_block(
    free: list[FreeSeat],
    n: int,
    anchors: list[FreeSeat],
    *,
    side: dict[int, set[int]],
    facing: dict[int, set[int]],
) -> Block | None:
    """The best ``n`` free seats next to ``anchors`` (seats the group already holds; their
    ``side``/``facing`` links are in the maps, which hold both directions): at an anchor's
    table, then side by side, then side-by-side and facing, then the anchors' coach in the
    rows nearest theirs. None when no anchor's coach has ``n`` free seats."""
    if n <= 0 or not anchors:
        return None
    by_id = {s.id: s for s in free}
    anchor_ids = {a.id for a in anchors}
    tables = {(a.coach, a.table) for a in anchors if a.table}
    candidates = []
    for coach, table in tables:
        at_table = sorted((s for s in free if (s.coach, s.table) == (coach, table)), key=_order)
        if len(at_table) >= n:
            candidates.append(at_table[:n])
    block = _best(candidates, "table")
    if block:
        return block
    grown = _grown(by_id, anchor_ids, side, n)
    if grown:
        return Block(tier="side_by_side", seat_ids=tuple(s.id for s in grown))
    both = {i: side.get(i, set()) | facing.get(i, set()) for i in set(by_id) | anchor_ids}
    grown = _grown(by_id, anchor_ids, both, n)
    if grown:
        return Block(tier="facing", seat_ids=tuple(s.id for s in grown))
    candidates = []
    for coach in sorted({a.coach for a in anchors}):
        seats = [s for s in free if s.coach == coach]
        if len(seats) >= n:
            candidates.append(sorted(seats, key=lambda s: (distance_of(s, anchors), _order(s)))[:n])
    if not candidates:
        return None
    chosen = min(
        candidates,
        key=lambda seats: (sum(distance_of(s, anchors) for s in seats), _order(seats[0])),
    )
    # All in a row the group sits in (the seats across the aisle from them): next to them.
    tier = "across_aisle" if all(distance_of(s, anchors) == 0 for s in chosen) else "coach"
    return Block(tier=tier, seat_ids=tuple(s.id for s in sorted(chosen, key=_order)))


def distance_of(seat: FreeSeat, anchors: list[FreeSeat]) -> int:
    """Rows between ``seat`` and the nearest anchor of its coach (another deck counts far)."""
    return min(
        abs(seat.row - a.row) + (a.deck != seat.deck) * 100
        for a in anchors
        if a.coach == seat.coach
    )


# What "Sit us together" answers, by the tier of its block and whether it joined the
# seats of friends already seated (None: nobody was seated before).
def outcome_text(tier: str, with_group: bool | None) -> str:
    close = tier in ("table", "side_by_side", "facing")
    if with_group and tier == "across_aisle":
        return _("Done: seated next to the others, across the aisle.")
    if with_group is None:
        if close:
            return _("Done: you are seated together.")
        return _(
            "Done: you are in the same coach, but not next to each other: "
            "no free seats side by side were left."
        )
    if with_group and close:
        return _("Done: seated next to the others.")
    if with_group:
        return _(
            "Done: seated in the others’ coach, in the nearest free rows: "
            "no seat next to them was free."
        )
    return _(
        "Seats taken, but not near the others: their coach is full. "
        "You can move once a seat near them frees up."
    )
