"""Ordered nodes, iterative topological order, and the forward and backward passes.

Every node (inputs first, then gates in topological order) is addressed by its position
in one list, so both passes are plain loops over precomputed tuples: no node objects, no
closures per gate, no recursion.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from engine.errors import DomainError
from engine.ops import OPS, Op, local_gradients

_EVAL_ERRORS = (ArithmeticError, ValueError)


@dataclass(frozen=True, slots=True)
class Gate:
    """One gate of an exercise: an op applied to named inputs."""

    id: str
    op: str
    inputs: tuple[str, ...]
    params: Mapping[str, float] = field(default_factory=dict)
    expanded_from: str | None = None  # the `expr` node this gate was generated from


def topological_order(input_names: Iterable[str], gates: Sequence[Gate]) -> list[Gate] | list[str]:
    """Gates sorted so that every gate comes after its inputs (Kahn's algorithm).

    Among the gates that are ready, the one written first comes first, so an exercise
    written in order keeps its order. When the gates contain a cycle, the ids on one
    cycle are returned instead (as a list of str), in the order the cycle runs.
    Unknown inputs must have been reported before: they are treated as available.
    """
    known = set(input_names)
    position = {g.id: k for k, g in enumerate(gates)}
    waiting: list[int] = [0] * len(gates)
    consumers: list[list[int]] = [[] for _ in gates]
    for k, g in enumerate(gates):
        for name in set(g.inputs):
            j = position.get(name)
            if j is not None and name not in known:
                waiting[k] += 1
                consumers[j].append(k)
    ready = [k for k, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    ordered: list[Gate] = []
    while ready:
        k = heapq.heappop(ready)
        ordered.append(gates[k])
        for c in consumers[k]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, c)
    if len(ordered) == len(gates):
        return ordered
    return _find_cycle(gates, position, known, waiting)


def _find_cycle(
    gates: Sequence[Gate], position: Mapping[str, int], known: set[str], waiting: list[int]
) -> list[str]:
    # Every gate still waiting has a waiting input, so walking waiting inputs must
    # eventually revisit a gate: the walk from there is a cycle.
    start = next(k for k, w in enumerate(waiting) if w > 0)
    seen: dict[int, int] = {}
    path: list[int] = []
    k = start
    while k not in seen:
        seen[k] = len(path)
        path.append(k)
        k = next(
            position[name]
            for name in gates[k].inputs
            if name in position and name not in known and waiting[position[name]] > 0
        )
    return [gates[j].id for j in path[seen[k]:]]


# How a gate sends its gradient back; see Graph.backward.
_ONES, _CONSTANT, _UNARY, _GENERAL = "ones", "constant", "unary", "general"


def _backward_entry(k: int, op: Op, ins: tuple[int, ...], get: Any, params: dict) -> tuple:
    if op.constant_local is not None:
        local = op.constant_local(len(ins), params)
        if all(d == 1.0 for d in local):
            return (k, _ONES, ins, local, get, params)
        return (k, _CONSTANT, ins, local, get, params)
    if op.unary:
        return (k, _UNARY, ins[0], op.local, get, params)
    return (k, _GENERAL, ins, op.local, get, params)


class Graph:
    """A validated exercise graph compiled for evaluation.

    ``names`` lists inputs first, then gates in topological order; ``index`` maps a name
    to its position. Values and gradients are lists in that same order.
    """

    __slots__ = (
        "_backward_plan",
        "_consumers",
        "_forward_plan",
        "_kink_plan",
        "gates",
        "index",
        "input_names",
        "names",
        "output",
    )

    def __init__(self, input_names: Sequence[str], gates: Sequence[Gate], output: str) -> None:
        self.input_names = tuple(input_names)
        self.gates = tuple(gates)
        self.names = self.input_names + tuple(g.id for g in self.gates)
        self.index = {name: k for k, name in enumerate(self.names)}
        self.output = self.index[output]
        self._consumers: list[list[tuple[int, int]]] | None = None
        forward_plan = []
        backward_plan = []
        kink_plan = []
        for k, gate in enumerate(self.gates, start=len(self.input_names)):
            op = OPS[gate.op]
            ins = tuple(self.index[name] for name in gate.inputs)
            get = itemgetter(*ins)  # one index: the value; several: a tuple
            params = dict(gate.params)
            forward_plan.append((op.forward, get, params))
            backward_plan.append(_backward_entry(k, op, ins, get, params))
            if op.kink is not None:
                kink_plan.append((k, op.kink, get, params))
        backward_plan.reverse()
        self._kink_plan = tuple(kink_plan)
        self._forward_plan = tuple(forward_plan)
        self._backward_plan = tuple(backward_plan)

    def __len__(self) -> int:
        return len(self.names)

    def op_of(self, position: int) -> Op | None:
        """The op of the node at a position, None for an input."""
        k = position - len(self.input_names)
        return OPS[self.gates[k].op] if k >= 0 else None

    def inputs_of(self, position: int) -> tuple[int, ...]:
        k = position - len(self.input_names)
        if k < 0:
            return ()
        return tuple(self.index[name] for name in self.gates[k].inputs)

    def consumers(self, position: int) -> list[tuple[int, int]]:
        """(consumer position, input slot) for every edge leaving a node."""
        if self._consumers is None:
            table: list[list[tuple[int, int]]] = [[] for _ in self.names]
            for k in range(len(self.input_names), len(self.names)):
                for slot, j in enumerate(self.inputs_of(k)):
                    table[j].append((k, slot))
            self._consumers = table
        return self._consumers[position]

    def forward(self, inputs: Sequence[float]) -> list[float]:
        """Every node's value, inputs first; raises DomainError naming the gate."""
        values = [float(v) for v in inputs]
        append = values.append
        try:
            for fn, get, params in self._forward_plan:
                append(fn(get(values), params))
        except _EVAL_ERRORS as exc:
            raise self._domain_error(len(values), exc) from None
        # One C-speed sum finds any inf/nan; only then is the culprit looked for.
        if not math.isfinite(sum(values)):
            for k, v in enumerate(values):
                if not math.isfinite(v):
                    raise self._domain_error(k, None)
        return values

    def backward(
        self,
        values: Sequence[float],
        choices: Mapping[int, Sequence[float]] | None = None,
    ) -> list[float]:
        """d output / d node for every node (reverse mode, summed at branches).

        ``choices`` replaces the local gradients of some gates (by position); it is how
        the other valid subgradients at a kink are explored.
        """
        grads = [0.0] * len(values)
        grads[self.output] = 1.0
        plan = self._backward_plan if not choices else self._plan_with(values, choices)
        k = self.output
        try:
            for k, kind, ins, local, get, params in plan:
                g = grads[k]
                if g == 0.0:
                    continue  # nothing flows back through this gate
                if kind is _ONES:
                    for j in ins:
                        grads[j] += g
                elif kind is _CONSTANT:
                    for j, d in zip(ins, local, strict=False):
                        grads[j] += g * d
                elif kind is _UNARY:
                    grads[ins] += g * local(get(values), values[k], params)
                else:
                    for j, d in zip(ins, local(get(values), values[k], params), strict=False):
                        grads[j] += g * d
        except _EVAL_ERRORS as exc:
            raise self._domain_error(k, exc, gradient=True) from None
        if not math.isfinite(sum(grads)):
            for j, v in enumerate(grads):
                if not math.isfinite(v):
                    raise self._domain_error(j, None, gradient=True)
        return grads

    def _plan_with(
        self, values: Sequence[float], choices: Mapping[int, Sequence[float]]
    ) -> list[tuple]:
        plan = list(self._backward_plan)
        last = len(plan) - 1 + len(self.input_names)
        for k, local_grads in choices.items():
            _, _, ins, _, get, params = plan[last - k]
            slots = ins if isinstance(ins, tuple) else (ins,)
            plan[last - k] = (k, _CONSTANT, slots, tuple(local_grads), get, params)
        return plan

    def local_gradients(self, values: Sequence[float], position: int) -> tuple[float, ...]:
        """The local gradient of a gate for each input slot (convention at a kink)."""
        op = self.op_of(position)
        if op is None:
            return ()
        xs = [values[j] for j in self.inputs_of(position)]
        params = self.gates[position - len(self.input_names)].params
        return local_gradients(op, xs, values[position], params)

    def kinks(self, values: Sequence[float]) -> dict[int, tuple[tuple[float, ...], ...]]:
        """Gates sitting exactly on a kink or tie: position -> extreme local gradients."""
        found = {}
        for k, kink, get, params in self._kink_plan:
            choices = kink(get(values), values[k], params)
            if choices is not None:
                found[k] = choices
        return found

    def _domain_error(
        self, position: int, exc: BaseException | None, *, gradient: bool = False
    ) -> DomainError:
        name = self.names[position]
        op = self.op_of(position)
        op_name = op.name if op else "input"
        what = "its local gradient" if gradient else "its value"
        detail = f" ({exc})" if exc is not None and str(exc) else ""
        if op is None:
            return DomainError(name, op_name, f"{what} is not a finite number")
        return DomainError(
            name, op_name, f"{what} is undefined or not finite at these inputs{detail}"
        )
