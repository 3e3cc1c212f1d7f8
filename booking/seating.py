"""Finding seats for friends who want to sit together: pure functions over plain data, no
database (``booking.plan.sit_together`` loads the data and takes the seats).

The best block, in order of preference, for ``n`` friends of one comfort class:

1. ``table``: all at one table (a table of four takes up to four);
2. ``side_by_side``: a run of seats each next to another (no aisle between);
3. ``facing``: a cluster joined by side-by-side and facing seats;
4. ``coach``: the same coach, in the fewest rows.

Within a tier the block in the fewest rows wins, then the one nearest the front of the
train. When no coach has room for everyone, ``best_split`` proposes the fewest groups.
"""

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

TIERS = ("table", "side_by_side", "facing", "coach")


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
