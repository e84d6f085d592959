"""`solve()`: reference forward values and gradients of a variant, and the valid
subgradients where the variant sits on a kink or tie."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from engine.subgradients import grad_ranges, local_ranges
from engine.variants import Variant

if TYPE_CHECKING:
    from engine.explain import Step
    from engine.spec import Exercise


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
    ranges: dict[str, tuple[float, float]] = {}
    local: dict[tuple[str, str], tuple[float, float]] = {}
    if on_kinks:
        kinks = graph.kinks(values, on_kinks)
        ranges = grad_ranges(graph, values, grads, kinks)
        local = local_ranges(graph, kinks)
    return Solution(
        variant=variant,
        values=NodeMap(graph.index, values),
        grads=NodeMap(graph.index, grads),
        grad_ranges=ranges,
        local_ranges=local,
        _value_list=values,
    )

