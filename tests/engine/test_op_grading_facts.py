"""The facts grading reads off each op (`local_reads`, `constant_local`,
`degenerate_feeds`), checked against the op's own math at random points: a wrong table
would let a wrong number through, or block credit that is due."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest

from engine.ops import OPS, Op, evaluate, local_gradients

POINTS = 60  # random points per op and arity
REDRAWS = 3  # new values tried for each input slot at each point


def arities(op: Op) -> tuple[int, ...]:
    """The input counts to check: both paths of a variadic op (two inputs, and more)."""
    if op.max_inputs is None:
        return (op.min_inputs, op.min_inputs + 1)
    return (op.min_inputs,)


def draw_params(op: Op, rng: random.Random) -> dict[str, float]:
    values = {"a": rng.uniform(-3.0, 3.0), "c": rng.uniform(-3.0, 3.0),
              "p": rng.choice((2.0, 3.0, -1.0))}  # p = 1 would make x^p's gradient constant
    return {name: values[name] for name in op.params}


def locals_at(op: Op, xs: list[float], params: dict[str, float]) -> tuple[float, ...] | None:
    """The local gradients at xs (the output computed from them), or None outside the
    op's domain."""
    try:
        y = evaluate(op, xs, params)
        found = local_gradients(op, xs, y, params)
    except (ArithmeticError, ValueError):
        return None
    return found if math.isfinite(y) and all(map(math.isfinite, found)) else None


def points(op: Op, arity: int, seed: int) -> Iterator[tuple[list[float], dict[str, float]]]:
    rng = random.Random(seed)
    for _ in range(POINTS):
        yield [rng.uniform(-2.0, 2.0) for _ in range(arity)], draw_params(op, rng)


def observed_reads(op: Op, arity: int) -> list[set[int]]:
    """For each slot, the slots whose value, redrawn, changed that slot's local gradient."""
    rng = random.Random(f"{op.name}/{arity}")
    found: list[set[int]] = [set() for _ in range(arity)]
    for xs, params in points(op, arity, rng.randrange(2**32)):
        before = locals_at(op, xs, params)
        if before is None:
            continue
        for moved in range(arity):
            for _ in range(REDRAWS):
                changed = list(xs)
                changed[moved] = rng.uniform(-2.0, 2.0)
                after = locals_at(op, changed, params)
                if after is None:
                    continue
                for slot in range(arity):
                    if after[slot] != before[slot]:
                        found[slot].add(moved)
    return found


CASES = [(name, arity) for name, op in sorted(OPS.items()) for arity in arities(op)]


@pytest.mark.parametrize(("name", "arity"), CASES, ids=[f"{n}-{a}" for n, a in CASES])
def test_declared_reads_match_what_changing_each_input_does(name: str, arity: int) -> None:
    op = OPS[name]
    declared = [set(op.slots_read(slot, arity)) for slot in range(arity)]
    assert declared == observed_reads(op, arity)


@pytest.mark.parametrize(("name", "arity"), CASES, ids=[f"{n}-{a}" for n, a in CASES])
def test_constant_local_gradients_never_change_and_the_others_do(name: str,
                                                                 arity: int) -> None:
    op = OPS[name]
    rng = random.Random(name)
    params = draw_params(op, rng)  # one set: a parameter may be the constant (a for scale)
    seen = set()
    for _ in range(POINTS):
        found = locals_at(op, [rng.uniform(-2.0, 2.0) for _ in range(arity)], params)
        if found is not None:
            seen.add(found)
    assert op.constant_local == (len(seen) == 1)
    assert op.constant_local == all(not op.slots_read(s, arity) for s in range(arity))


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if op.degenerate_feeds))
def test_a_degenerate_feed_leaves_nothing_to_compute(name: str) -> None:
    """With the value in some slot, the output is 0, ±1, a parameter or another input,
    whatever the other inputs and parameters are."""
    op = OPS[name]
    arity = op.min_inputs
    for value in op.degenerate_feeds:
        trivial_in = []
        for slot in range(arity):
            outputs_trivial = True
            for xs, params in points(op, arity, seed=slot):
                xs[slot] = value
                try:
                    y = evaluate(op, xs, params)
                except (ArithmeticError, ValueError):
                    continue
                others = [x for s, x in enumerate(xs) if s != slot]
                if y not in (0.0, 1.0, -1.0, *params.values(), *others):
                    outputs_trivial = False
            trivial_in.append(outputs_trivial)
        assert any(trivial_in), (name, value)


def test_degenerate_feeds_are_zero_or_one() -> None:
    # Grading notes, for a wrong forward value, only whether it equals 0 or 1.
    assert {v for op in OPS.values() for v in op.degenerate_feeds} <= {0.0, 1.0}
