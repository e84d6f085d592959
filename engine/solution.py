"""`solve()`: reference forward values and gradients of a variant, and the valid
subgradients where the variant sits on a kink or tie."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from engine.errors import DomainError
from engine.variants import Variant

if TYPE_CHECKING:
    from engine.explain import Step
    from engine.graph import Graph
    from engine.ops import KinkChoices
    from engine.spec import Exercise

# Beyond this many combinations of kink choices, each kink is varied on its own.
_MAX_KINK_COMBINATIONS = 64
# Each explored choice costs a backward pass; past this many node visits in all, the
# kinks farthest from the output keep only their convention. Exercises are far below
# it; it bounds the cost of pathological generated graphs full of ties.
_KINK_WORK_BUDGET = 2_000_000
_FEW_KINKS = 12
_SAME = 1e-12


class NodeMap(Mapping[str, float]):
    """A read-only mapping from node id to a number, over the solver's list: built in
    constant time, however large the graph. `dict(m)` makes a copy."""

    __slots__ = ("_index", "_list")

    def __init__(self, index: Mapping[str, int], numbers: Sequence[float]) -> None:
        self._index = index
        self._list = numbers

    def __getitem__(self, node: str) -> float:
        return self._list[self._index[node]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, node: object) -> bool:
        return node in self._index

    def __repr__(self) -> str:
        return f"NodeMap({dict(self)!r})"


@dataclass(frozen=True, eq=False)
class Solution:
    """The reference solution of a variant.

    ``values`` and ``grads`` (d output / d node) are keyed by node id, inputs included.
    At a kink they hold the documented convention; ``grad_ranges`` and
    ``local_ranges`` then give, for the blanks whose answer depends on the choice of
    subgradient, the closed interval of valid answers.
    """

    variant: Variant
    values: Mapping[str, float]
    grads: Mapping[str, float]
    grad_ranges: Mapping[str, tuple[float, float]]
    local_ranges: Mapping[tuple[str, str], tuple[float, float]]
    _value_list: Sequence[float]

    @property
    def exercise(self) -> Exercise:
        return self.variant.exercise

    @property
    def output(self) -> str:
        return self.variant.exercise.output

    def local_gradients(self, gate: str) -> dict[str, float]:
        """d gate / d input for each distinct input of a gate (summed where an input
        is used more than once, as in x·x)."""
        graph = self.variant.exercise.graph
        k = graph.index[gate]
        result: dict[str, float] = {}
        for slot_input, d in zip(
            graph.inputs_of(k), graph.local_gradients(self._value_list, k), strict=True
        ):
            name = graph.names[slot_input]
            result[name] = result.get(name, 0.0) + d
        return result

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        """The worked solution, built on first use."""
        from engine.explain import worked_steps

        return worked_steps(self)


def solve(variant: Variant) -> Solution:
    """Forward values and gradients of every node of a variant."""
    graph = variant.exercise.graph
    on_kinks: list[int] = []
    values = graph.forward([variant.inputs[name] for name in graph.input_names], on_kinks)
    grads = graph.backward(values)
    names = graph.names
    grad_ranges: dict[str, tuple[float, float]] = {}
    local_ranges: dict[tuple[str, str], tuple[float, float]] = {}
    if on_kinks:
        kinks = graph.kinks(values, on_kinks)
        live = kinks
        if len(kinks) > _FEW_KINKS:
            # Many kinks (a generated graph full of ties): keep those with gradient
            # flowing in. This misses a kink fed only through another kink's choice.
            live = {k: c for k, c in kinks.items() if grads[k] != 0.0}
        if live:
            grad_ranges = _grad_ranges(graph, values, grads, live)
        for k, choices in kinks.items():
            ins = graph.inputs_of(k)
            for name in {names[j] for j in ins}:
                sums = [sum(c[s] for s, j in enumerate(ins) if names[j] == name) for c in choices]
                local_ranges[(names[k], name)] = (min(sums), max(sums))
    return Solution(
        variant=variant,
        values=NodeMap(graph.index, values),
        grads=NodeMap(graph.index, grads),
        grad_ranges=grad_ranges,
        local_ranges=local_ranges,
        _value_list=values,
    )


def _grad_ranges(
    graph: Graph,
    values: list[float],
    grads: list[float],
    kinks: Mapping[int, KinkChoices],
) -> dict[str, tuple[float, float]]:
    positions = sorted(kinks, reverse=True)  # nearest the output first
    options = [kinks[k] for k in positions]
    total = math.prod(len(o) for o in options)
    if total <= _MAX_KINK_COMBINATIONS:
        combos = [dict(zip(positions, pick, strict=True)) for pick in itertools.product(*options)]
    else:
        combos = [{k: choice} for k in positions for choice in kinks[k]]
    combos = combos[: max(1, _KINK_WORK_BUDGET // len(values))]
    lo = list(grads)
    hi = list(grads)
    for combo in combos:
        try:
            alternative = graph.backward(values, combo)
        except DomainError:
            continue  # this choice needs a derivative that does not exist there
        for j, g in enumerate(alternative):
            if g < lo[j]:
                lo[j] = g
            elif g > hi[j]:
                hi[j] = g
    # Choices that differ only in the order of the same sums give rounding noise.
    return {
        graph.names[j]: (lo[j], hi[j])
        for j in range(len(values))
        if hi[j] - lo[j] > _SAME * max(1.0, abs(lo[j]), abs(hi[j]))
    }
