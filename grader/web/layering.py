"""Layered drawing of a DAG, the part that knows nothing of gates or boxes: columns of
items, the order within each column (crossing reduction) and the height of each item.

`grader.web.layout` builds the columns (one per layer, a pass-through item wherever a
long edge crosses a layer), says how much room each item needs above and below its
line and how wide each column is, and turns the result into boxes and polylines.

* The order: barycenter sweeps down and up (each item goes to the mean position of its
  neighbours in the column beside), each followed by swaps of neighbours that remove
  crossings; the order with the fewest crossings seen is kept.
* The heights: sweeps that pull each item towards where its edges would run level
  (segments between pass-through items pull hardest, so long edges run straight), each
  column then solved exactly for the nearest heights that keep its items apart.
* The bands: the space between columns shrinks from comfortable to a minimum to fit
  MAX_WIDTH; a graph still too wide is cut into the fewest bands that fit, as even as
  possible, each indented by the gutters of the lines that wrap into and out of it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

# No sideways scroll in a 1280 px window: less its scrollbar (15), the page's padding
# (32) and the graph frame's (18), 1215 px remain.
MAX_WIDTH = 1200.0
BADGE_OVERHANG = 9.0  # a box's status badge sticks out of its top right corner this far
MARGIN = BADGE_OVERHANG + 5.0  # around the drawing, so that no badge is cut
TRACK = 5.0  # between lines in the gutters and channels of a drawing cut into bands
GUTTER_PAD = 10.0  # between a band and its gutter
ITEM_GAP = 12.0  # vertical space between the room of two items of a column
LINE_GAP = 8.0  # between two pass-through lines
_ORDER_SWEEPS = 24
_PLACEMENT_ROUNDS = 8
_RUN_MIN, _RUN_MAX = 16.0, 64.0  # the space where edges bend, between two columns
_MOST_WRAPPED = 40  # lines around one wrap: more would be a maze, so the page scrolls


@dataclass(eq=False)
class Item:
    """One entry of a column: a node, or the point where the edges of `node` pass a
    layer on their way further right."""

    node: str
    layer: int
    passing: bool
    preds: list[Item] = field(default_factory=list, repr=False)
    succs: list[Item] = field(default_factory=list, repr=False)
    order: int = 0
    y: float = 0.0  # the height of its line: the stub of a node, the pass-through line
    top: float = 0.0  # what it occupies above and below y (top is negative)
    bottom: float = 0.0
    # For a gate, per pred: how far from y the edge arrives (the line through its
    # local box, or the arrow itself without local boxes) and where its arrow enters.
    arrival: dict[Item, float] = field(default_factory=dict, repr=False)
    port: dict[Item, float] = field(default_factory=dict, repr=False)


def link(pred: Item, succ: Item) -> None:
    pred.succs.append(succ)
    succ.preds.append(pred)


# ---------------------------------------------------------------- crossing reduction


def order_columns(columns: list[list[Item]], after_wrap: Collection[int] = ()) -> None:
    """Reorder every column to reduce crossings; keep the best order seen.

    The columns in `after_wrap` start a band below the one their preds are in: they
    follow their preds' order only, because the lines that wrap round into them cross
    in the gutter whenever the two orders differ."""
    for column in columns:
        _renumber(column)
    for k in range(1, len(columns)):
        _sort_by_neighbours(columns[k], columns[k - 1], down=True)
    best = _total_crossings(columns)
    best_orders = [list(column) for column in columns]
    stale = 0
    for sweep in range(_ORDER_SWEEPS):
        if best == 0 or stale >= 4:
            break
        down = sweep % 2 == 0
        ks = range(1, len(columns)) if down else range(len(columns) - 2, -1, -1)
        for k in ks:
            if k in after_wrap and not down:
                continue
            _sort_by_neighbours(columns[k], columns[k - 1 if down else k + 1], down=down)
            _transpose(columns[k], both_sides=k not in after_wrap)
        total = _total_crossings(columns)
        if total < best:
            best, best_orders, stale = total, [list(column) for column in columns], 0
        else:
            stale += 1
    for column, order in zip(columns, best_orders, strict=True):
        column[:] = order
        _renumber(column)


def _renumber(column: list[Item]) -> None:
    for k, item in enumerate(column):
        item.order = k


def _sort_by_neighbours(column: list[Item], beside: list[Item], *, down: bool) -> None:
    """Sort by the mean position of each item's neighbours in the column beside it (on
    a 0..1 scale, so columns of different lengths compare); an item without any keeps
    its own position."""

    def barycenter(item: Item) -> tuple[float, int]:
        neighbours = item.preds if down else item.succs
        if not neighbours:
            return (item.order + 0.5) / len(column), item.order
        mean = sum(n.order + 0.5 for n in neighbours) / len(neighbours)
        return mean / len(beside), item.order

    column.sort(key=barycenter)
    _renumber(column)


def _transpose(column: list[Item], *, both_sides: bool) -> None:
    """Swap neighbours in the column while that removes crossings on either side (or
    with the column before only)."""
    for _ in range(4):
        swapped = False
        for k in range(len(column) - 1):
            upper, lower = column[k], column[k + 1]
            if (_pair_crossings(lower, upper, both_sides)
                    < _pair_crossings(upper, lower, both_sides)):
                column[k], column[k + 1] = lower, upper
                upper.order, lower.order = k + 1, k
                swapped = True
        if not swapped:
            return


def _pair_crossings(upper: Item, lower: Item, both_sides: bool) -> int:
    """Crossings between the edges of two items of a column, `upper` above `lower`."""
    before = sum(1 for a in upper.preds for b in lower.preds if a.order > b.order)
    if not both_sides:
        return before
    return before + sum(1 for a in upper.succs for b in lower.succs if a.order > b.order)


def _total_crossings(columns: list[list[Item]]) -> int:
    return sum(_crossings_after(column) for column in columns)


def _crossings_after(column: list[Item]) -> int:
    """Crossings between a column and the next: inversions of the segments' lower ends
    once sorted by their upper ends, counted with a Fenwick tree."""
    segments = sorted((item.order, succ.order) for item in column for succ in item.succs)
    size = max((lower for _, lower in segments), default=-1) + 2
    tree = [0] * size
    crossings = 0
    for seen, (_, lower) in enumerate(segments):
        at, not_above = lower + 1, 0
        while at > 0:
            not_above += tree[at]
            at -= at & -at
        crossings += seen - not_above
        at = lower + 1
        while at < size:
            tree[at] += 1
            at += at & -at
    return crossings


# ---------------------------------------------------------------- heights


def place_band(columns: Sequence[list[Item]], first: int, last: int) -> None:
    """Give every item of the columns first..last a height; only neighbours in the band
    pull (an edge that wraps to the next band cannot be straight anyway)."""
    band = columns[first:last + 1]
    for column in band:
        _settle(column, first, last, toward_preds=False, toward_succs=False)
    for _ in range(_PLACEMENT_ROUNDS):
        for column in band[1:]:
            _settle(column, first, last, toward_preds=True, toward_succs=False)
        for column in reversed(band[:-1]):
            _settle(column, first, last, toward_preds=False, toward_succs=True)
    # The last sweep goes down, so that a chain of gates ends up exactly level.
    for column in band[1:]:
        _settle(column, first, last, toward_preds=True, toward_succs=False)


def _pull(a: Item, b: Item) -> float:
    """How much straightening the segment a-b matters: between two pass-through points
    most, so long edges run straight (the weights of Gansner et al.)."""
    return (1.0, 2.0, 8.0)[a.passing + b.passing]


def _settle(column: list[Item], first: int, last: int, *,
            toward_preds: bool, toward_succs: bool) -> None:
    wanted, weights = [], []
    for item in column:
        total = weight = 0.0
        if toward_preds:
            for pred in item.preds:
                if pred.layer >= first:
                    w = _pull(pred, item)
                    total += w * (pred.y - item.arrival.get(pred, 0.0))
                    weight += w
        if toward_succs:
            for succ in item.succs:
                if succ.layer <= last:
                    w = _pull(item, succ)
                    total += w * (succ.y + succ.arrival.get(item, 0.0))
                    weight += w
        wanted.append(total / weight if weight else item.y)
        weights.append(weight or 1e-3)
    gaps = [upper.bottom + _gap(upper, lower) - lower.top
            for upper, lower in pairwise(column)]
    for item, y in zip(column, _nearest_in_order(wanted, weights, gaps), strict=True):
        item.y = y


def _gap(upper: Item, lower: Item) -> float:
    return LINE_GAP if upper.passing and lower.passing else ITEM_GAP


def _nearest_in_order(wanted: Sequence[float], weights: Sequence[float],
                      gaps: Sequence[float]) -> list[float]:
    """The heights y, in the given order with y[k+1] - y[k] >= gaps[k], that minimise
    sum(weight·(y - wanted)²): with z[k] = y[k] - (gaps before k) this asks for a
    non-decreasing z, which pool adjacent violators finds exactly in linear time."""
    shifts = [0.0]
    for gap in gaps:
        shifts.append(shifts[-1] + gap)
    blocks: list[tuple[float, float, int]] = []  # (mean, weight, count)
    for target, weight, shift in zip(wanted, weights, shifts, strict=True):
        mean, total, count = target - shift, weight, 1
        while blocks and blocks[-1][0] >= mean:
            before, before_weight, before_count = blocks.pop()
            mean = (before * before_weight + mean * total) / (before_weight + total)
            total += before_weight
            count += before_count
        blocks.append((mean, total, count))
    heights: list[float] = []
    for mean, _, count in blocks:
        start = len(heights)
        heights.extend(mean + shifts[start + k] for k in range(count))
    return heights


# ---------------------------------------------------------------- bands


def _gutter(tracks: int) -> float:
    return GUTTER_PAD + tracks * TRACK


def gutters(first: int, last: int, tracks: Sequence[int]) -> tuple[float, float]:
    """The room a band needs left and right of its columns for the lines that wrap into
    it (from the band above) and out of it (to the band below)."""
    left = _gutter(tracks[first - 1]) if first > 0 else 0.0
    right = _gutter(tracks[last]) if last + 1 < len(tracks) else 0.0
    return left, right


def _band_width(first: int, last: int, widths: Sequence[float], tracks: Sequence[int],
                run: float) -> float:
    """A band's width, its gutters and margins included; infinite where a wrap into or
    out of it would carry too many lines to follow."""
    if max(tracks[first - 1] if first > 0 else 0,
           tracks[last] if last + 1 < len(tracks) else 0) > _MOST_WRAPPED:
        return math.inf
    left, right = gutters(first, last, tracks)
    return 2 * MARGIN + left + sum(widths[first:last + 1]) + (last - first) * run + right


def _width_of(bands: Sequence[tuple[int, int]], widths: Sequence[float],
              tracks: Sequence[int], run: float) -> float:
    return max(_band_width(first, last, widths, tracks, run) for first, last in bands)


def bands_for(widths: Sequence[float], tracks: Sequence[int]) -> list[tuple[int, int]]:
    """The fewest bands that fit MAX_WIDTH, as even as possible; one band when nothing
    fits (the page scrolls)."""
    whole = [(0, len(widths) - 1)]
    if _width_of(whole, widths, tracks, _RUN_MIN) <= MAX_WIDTH:
        return whole
    greedy = _greedy_bands(widths, tracks)
    if greedy is None:
        return whole
    even = _even_bands(widths, tracks, len(greedy))
    return even if _width_of(even, widths, tracks, _RUN_MIN) <= MAX_WIDTH else greedy


def _greedy_bands(widths: Sequence[float],
                  tracks: Sequence[int]) -> list[tuple[int, int]] | None:
    """As many columns per band as fit, left to right; None if a column alone does not."""
    bands: list[tuple[int, int]] = []
    first = 0
    while first < len(widths):
        last = first
        while (last + 1 < len(widths)
               and _band_width(first, last + 1, widths, tracks, _RUN_MIN) <= MAX_WIDTH):
            last += 1
        if _band_width(first, last, widths, tracks, _RUN_MIN) > MAX_WIDTH:
            return None
        bands.append((first, last))
        first = last + 1
    return bands


def _even_bands(widths: Sequence[float], tracks: Sequence[int],
                count: int) -> list[tuple[int, int]]:
    """`count` bands whose widest is as narrow as possible (dynamic programming over
    where each band ends)."""
    n = len(widths)
    # best[b][j]: the least widest band when columns 0..j-1 make b bands.
    best = [[math.inf] * (n + 1) for _ in range(count + 1)]
    cut = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for b in range(1, count + 1):
        for j in range(b, n + 1):
            for i in range(b - 1, j):
                widest = max(best[b - 1][i], _band_width(i, j - 1, widths, tracks, _RUN_MIN))
                if widest < best[b][j]:
                    best[b][j], cut[b][j] = widest, i
    bands = []
    j = n
    for b in range(count, 0, -1):
        i = cut[b][j]
        bands.append((i, j - 1))
        j = i
    return bands[::-1]


def run_between(bands: Sequence[tuple[int, int]], widths: Sequence[float],
             tracks: Sequence[int]) -> float:
    """The widest space between columns (up to a comfortable one) that keeps every
    band within MAX_WIDTH."""
    run = _RUN_MAX
    for first, last in bands:
        if last > first:
            fixed = _band_width(first, last, widths, tracks, 0.0)
            run = min(run, (MAX_WIDTH - fixed) / (last - first))
    return max(_RUN_MIN, run)
