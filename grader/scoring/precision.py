"""What a typed number stands for, and what that gives through a gate.

A student who types 0.20 may have had 0.1966 in the calculator (the lecture keeps the
digits and shows two decimals: 0.20 shown, then 0.39 computed from the unrounded
value), or exactly 0.20 (computing on from what they wrote). Both habits are honest, so
what the student's own numbers give for a later blank is not one number but a range:
the gate applied to every value each typed number may stand for. A later blank is
carried (consistent) when it is within tolerance of that range, and a mistake fits when
it is within the same spread.

A typed number stands for the values that round to it at its last typed digit (half a
unit there) and lie no further from it than the tolerance lets a right answer lie from
its reference. JSON drops trailing zeros (0.20 arrives as 0.2), so the tolerance is what
bounds the digits a student kept: under the default tolerance 0.20 stands for [0.195,
0.205], 25.6 for [25.55, 25.65]. A right value typed rounded also stands for the
reference itself (the unrounded value the lecture's habit computes on).

Ranges go through a gate by evaluating it at the corners of its inputs' ranges (exact for
the monotone and bilinear gates, within the square of the range for the others: far
below any tolerance) and, for sums and products of many inputs, by interval arithmetic.
A range that crosses a point where the gate is undefined (a pole of 1/x) gives no range:
the typed numbers are taken as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import product

from engine.ops import Op, evaluate, local_gradients
from grader.scoring.tolerance import Allowance, typed_step

Bounds = tuple[float, float]
# Input slots where a gate is undefined at 0 (or has no real value below it): a range
# across 0 there has no range of values through the gate.
_POLES: dict[str, tuple[int, ...]] = {"inv": (0,), "div": (1,), "pow": (0,), "log": (0,),
                                      "sqrt": (0,)}


def typed_halfwidth(x: float, allowance: Allowance) -> float:
    """Half the width of the values a typed x stands for: half a unit in its last typed
    digit (an integer counts to its units), at most the tolerance at x."""
    text = repr(x)  # the shortest text that reads back as x: what was typed, less zeros
    if "e" in text:  # 1e-05, 2.5e+20: rare, and slower to read
        step = typed_step(x)
    elif text.endswith(".0"):
        step = 1.0
    else:
        step = 10.0 ** -(len(text) - text.index(".") - 1)
    return min(step / 2.0, allowance(x))


def stands_for(x: float, reference: float, *, right: bool, allowance: Allowance) -> Bounds:
    """The values a typed x may stand for: [x - h, x + h], and for a right x typed
    rounded, the reference too."""
    h = typed_halfwidth(x, allowance)
    low, high = x - h, x + h
    if right:
        low, high = min(low, reference), max(high, reference)
    return low, high


def gate_range(op: Op, xs: Sequence[float], ranges: Sequence[Bounds | None],
               params: Mapping[str, float]) -> Bounds | None:
    """The gate's value over its inputs' ranges (None: an exact input), or None where a
    range crosses a point the gate is undefined at."""
    name = op.name
    if _across_a_pole(name, ranges):
        return None
    if name == "add":
        return (math.fsum(r[0] if r else x for x, r in zip(xs, ranges, strict=True)),
                math.fsum(r[1] if r else x for x, r in zip(xs, ranges, strict=True)))
    if name == "mul" and len(xs) > 2:
        low = high = 1.0
        for x, r in zip(xs, ranges, strict=True):
            low, high = _times((low, high), r or (x, x))
        return low, high
    if name in ("max", "min") and len(xs) > 2:  # increasing in every input
        return (evaluate(op, [r[0] if r else x for x, r in zip(xs, ranges, strict=True)],
                         params),
                evaluate(op, [r[1] if r else x for x, r in zip(xs, ranges, strict=True)],
                         params))
    try:
        found = [evaluate(op, list(corner), params) for corner in _corners(xs, ranges)]
    except (ArithmeticError, ValueError):
        return None
    return _hull(found)


def local_ranges(op: Op, xs: Sequence[float], y: float, ranges: Sequence[Bounds | None],
                 y_range: Bounds | None, params: Mapping[str, float],
                 ) -> list[Bounds] | None:
    """Each slot's local gradient over the ranges of the gate's inputs and of its output
    (some gates read their output: eˣ, σ, 1/x), or None where a range crosses a point the
    gate is undefined at."""
    if op.constant_local or _across_a_pole(op.name, ranges):
        return None  # the same whatever the values, or no range at all
    if op.name == "mul" and len(xs) > 2:
        boxes = [r or (x, x) for x, r in zip(xs, ranges, strict=True)]
        found: list[Bounds] = []
        for k in range(len(xs)):
            low = high = 1.0
            for i, box in enumerate(boxes):
                if i != k:
                    low, high = _times((low, high), box)
            found.append((low, high))
        return found
    if len(xs) > 2:
        return None  # max/min of many: the routing at the typed values
    ys = (y,) if y_range is None else (y_range[0], y, y_range[1])
    try:
        rows = [local_gradients(op, list(corner), out, params)
                for corner in _corners(xs, ranges) for out in ys]
    except (ArithmeticError, ValueError):
        return None
    columns = []
    for slot in range(len(xs)):
        found_slot = _hull([row[slot] for row in rows])
        if found_slot is None:
            return None
        columns.append(found_slot)
    return columns


def _across_a_pole(op: str, ranges: Sequence[Bounds | None]) -> bool:
    for slot in _POLES.get(op, ()):
        r = ranges[slot] if slot < len(ranges) else None
        if r is not None and r[0] <= 0.0 <= r[1]:
            return True
    return False


def _corners(xs: Sequence[float], ranges: Sequence[Bounds | None],
             ) -> list[tuple[float, ...]]:
    """The typed point and the corners of the box of ranges (a one-input gate: the two
    ends and the point)."""
    axes = [(x,) if r is None else (r[0], x, r[1]) if len(xs) == 1 else (r[0], r[1])
            for x, r in zip(xs, ranges, strict=True)]
    return [tuple(xs), *product(*axes)]


def _hull(values: Sequence[float]) -> Bounds | None:
    if not all(math.isfinite(v) for v in values):
        return None
    return min(values), max(values)


def _times(a: Bounds, b: Bounds) -> Bounds:
    """The product of two intervals."""
    products = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
    return min(products), max(products)


def times(a: Bounds, b: Bounds) -> Bounds:
    """The product of two intervals (an upstream gradient's and a local gradient's)."""
    return _times(a, b)


def relative_spread(value: float, bounds: Bounds | None) -> float:
    """How far, relative to the value, the values a number stands for reach."""
    if bounds is None or value == 0.0:
        return 0.0
    return max(value - bounds[0], bounds[1] - value) / abs(value)
