"""Small cells kept out of every published aggregate.

**Primary:** a cell of fewer than k customers is suppressed (its count is not published).

**Secondary** (complementary suppression): a published total minus the published cells it is made of would
give a lone suppressed cell away, so where exactly one cell of such a group is suppressed, the smallest
published cell beside it is suppressed too — repeated until nothing changes. The groups whose cells add up
to a published total:

- the regions of a branch: for every (branch, dimension, segment), its region cells add up to the cell of
  region ``all`` (every customer has exactly one region);
- the segments of a partition: for every (branch, region) and each dimension that puts every customer in
  exactly one segment (:data:`PARTITIONS`), its cells add up to that place's ``customers`` cell.

``product`` and ``channel`` are not partitions (a customer holds several products and uses several channels),
so only the first rule applies to them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

PARTITIONS = frozenset({"activity", "rfm_segment", "rfm", "recency", "frequency", "monetary"})
ALL = "all"  # the region of a whole branch's cell


@dataclass(frozen=True)
class Cell:
    branch_id: str
    region: str
    dimension: str
    segment: str
    customers: int
    suppressed: bool = False

    @property
    def place(self) -> tuple[str, str, str, str]:
        return (self.branch_id, self.region, self.dimension, self.segment)

    @property
    def published(self) -> int | None:
        return None if self.suppressed else self.customers


def _groups(cells: dict[tuple, Cell]) -> list[tuple[tuple | None, list[tuple]]]:
    """(the total's place, the places that add up to it)."""
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for place in cells:
        branch, region, dimension, segment = place
        if region != ALL:
            groups[(branch, ALL, dimension, segment)].append(place)
        if dimension in PARTITIONS:
            groups[(branch, region, "customers", ALL)].append(place + ("by", dimension))
    out = []
    for total, members in groups.items():
        by: dict[str | None, list[tuple]] = defaultdict(list)
        for m in members:
            by[m[5] if len(m) > 4 else None].append(m[:4])
        out += [(total, parts) for parts in by.values()]
    return out


def suppress(cells: list[Cell], k: int) -> list[Cell]:
    """The cells with those to withhold marked ``suppressed`` (their counts stay in the object for the
    caller's checks; :attr:`Cell.published` is what may be shown)."""
    by_place = {c.place: replace(c, suppressed=c.customers < k) for c in cells}
    groups = _groups(by_place)
    changed = True
    while changed:
        changed = False
        for total, parts in groups:
            if total not in by_place or by_place[total].suppressed:
                continue  # no published total to subtract from
            hidden = [p for p in parts if by_place[p].suppressed]
            shown = [p for p in parts if not by_place[p].suppressed]
            if len(hidden) != 1:
                continue
            # the smallest published part beside it; none (the hidden one is all there is): the total itself
            also = min(shown, key=lambda p: (by_place[p].customers, p)) if shown else total
            by_place[also] = replace(by_place[also], suppressed=True)
            changed = True
    return sorted(by_place.values(), key=lambda c: c.place)
