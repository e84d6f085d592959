"""Ordered nodes, iterative topological order, and the forward and backward passes.

Every node (inputs first, then gates in topological order) is addressed by its position
in one list, so both passes are plain loops over precomputed tuples: no node objects, no
closures per gate, no recursion.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from types import MappingProxyType
from typing import NamedTuple

from engine.errors import DomainError, Text, mark
from engine.ops import OPS, KinkChoices, Op, local_gradients
from engine.solver import (
    CONSTANT,
    GENERAL,
    BackwardStep,
    ForwardStep,
    GateFailure,
    backward_loop,
    code_of,
    forward_loop,
)

_NO_PARAMS: Mapping[str, float] = MappingProxyType({})
KinkFunction = Callable[..., KinkChoices | None]  # Op.kink, once known not to be None


class Gate(NamedTuple):
    """One gate of an exercise: an op applied to named inputs.

    A named tuple rather than a dataclass: a 100,000-gate spec builds this many, and
    a tuple is several times cheaper to make."""

    id: str
    op: str
    inputs: tuple[str, ...]
    params: Mapping[str, float] = _NO_PARAMS
    expanded_from: str | None = None  # the `expr` node this gate was generated from


class CycleError(ValueError):
    """The gates contain a cycle; `cycle` lists the ids on one, in the order it runs."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(" -> ".join(cycle))


def topological_order(input_names: Iterable[str], gates: Sequence[Gate]) -> list[Gate]:
    """Gates sorted so that every gate comes after its inputs (Kahn's algorithm).

    Among the gates that are ready, the one written first comes first, so an exercise
    written in order keeps its order (and costs no heap operations). Raises CycleError.
    Unknown inputs must have been reported before: they are treated as available.
    """
    known = set(input_names)
    position = {g.id: k for k, g in enumerate(gates)}
    waiting = [0] * len(gates)
    consumers: dict[int, list[int]] = {}
    for k, g in enumerate(gates):
        for name in set(g.inputs) if len(g.inputs) > 1 else g.inputs:
            j = position.get(name)
            if j is not None and name not in known:
                waiting[k] += 1
                consumers.setdefault(j, []).append(k)
    ready = [k for k, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    ordered: list[Gate] = []
    while ready:
        k = heapq.heappop(ready)
        ordered.append(gates[k])
        for c in consumers.get(k, ()):
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, c)
    if len(ordered) != len(gates):
        raise CycleError(_find_cycle(gates, position, known, waiting))
    return ordered


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


class Graph:
    """A validated exercise graph compiled for evaluation.

    ``names`` lists inputs first, then gates in topological order; ``index`` maps a name
    to its position. Values and gradients are lists in that same order.
    """

    __slots__ = (
        "_backward",
        "_backward_plan",
        "_consumers",
        "_forward",
        "_forward_plan",
        "_inputs",
        "_kink_gates",
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
        forward_plan: list[ForwardStep] = []
        backward_plan: list[BackwardStep] = []
        inputs: list[tuple[int, ...]] = []
        kink_gates: list[tuple[int, Op, KinkFunction]] = []
        counts: Counter[int] = Counter()
        index = self.index
        for k, gate in enumerate(self.gates, start=len(self.input_names)):
            op = OPS[gate.op]
            ins = tuple(index[name] for name in gate.inputs)
            inputs.append(ins)
            code = code_of(op, len(ins))
            if code == GENERAL:
                params = dict(gate.params)
                get = itemgetter(*ins)
                forward_plan.append((GENERAL, get, (op.forward, params, op.kink), 0.0))
                backward_plan.append((k, GENERAL, get, (op.local, ins, params), 0.0))
            else:
                counts[code] += 1
                prm = float(gate.params[op.param]) if op.param else 0.0
                second = ins[1] if len(ins) > 1 else 0
                forward_plan.append((code, ins[0], second, prm))
                backward_plan.append((k, code, ins[0], second, prm))
            if op.kink is not None:
                kink_gates.append((k, op, op.kink))
        backward_plan.reverse()
        codes = tuple(code for code, _ in counts.most_common())
        self._forward_plan = tuple(forward_plan)
        self._backward_plan = tuple(backward_plan)
        self._inputs = tuple(inputs)
        self._kink_gates = tuple(kink_gates)
        self._forward = forward_loop(codes)
        self._backward = backward_loop(codes)

    def __len__(self) -> int:
        return len(self.names)

    def op_of(self, position: int) -> Op | None:
        """The op of the node at a position, None for an input."""
        k = position - len(self.input_names)
        return OPS[self.gates[k].op] if k >= 0 else None

    def inputs_of(self, position: int) -> tuple[int, ...]:
        """The positions of a node's inputs, slot by slot; () for an input."""
        k = position - len(self.input_names)
        return self._inputs[k] if k >= 0 else ()

    def consumers(self, position: int) -> list[tuple[int, int]]:
        """(consumer position, input slot) for every edge leaving a node."""
        if self._consumers is None:
            table: list[list[tuple[int, int]]] = [[] for _ in self.names]
            for k in range(len(self.input_names), len(self.names)):
                for slot, j in enumerate(self.inputs_of(k)):
                    table[j].append((k, slot))
            self._consumers = table
        return self._consumers[position]

    def forward(self, inputs: Sequence[float], kinks: list[int] | None = None) -> list[float]:
        """Every node's value, inputs first; raises DomainError naming the gate.

        When a list is given as `kinks`, the positions of the gates sitting exactly on
        a kink or tie are appended to it.
        """
        values = [float(v) for v in inputs]
        try:
            self._forward(values, self._forward_plan, [] if kinks is None else kinks)
        except GateFailure as failure:
            raise self._domain_error(failure.position, failure.cause) from None
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

        ``choices`` replaces the local gradients of some gates (by position), e.g. with
        another valid subgradient at a kink; `engine.subgradients` gives the same
        gradients re-adding only the ones a choice changes.
        """
        grads = [0.0] * len(values)
        grads[self.output] = 1.0
        plan = self._backward_plan if not choices else self._plan_with(choices)
        try:
            self._backward(values, grads, plan)
        except GateFailure as failure:
            raise self._domain_error(failure.position, failure.cause, gradient=True) from None
        if not math.isfinite(sum(grads)):
            for j, v in enumerate(grads):
                if not math.isfinite(v):
                    raise self._domain_error(j, None, gradient=True)
        return grads

    def _plan_with(self, choices: Mapping[int, Sequence[float]]) -> list[BackwardStep]:
        plan = list(self._backward_plan)
        last = len(plan) - 1 + len(self.input_names)
        for k, local_grads in choices.items():
            plan[last - k] = (k, CONSTANT, self.inputs_of(k), tuple(local_grads), 0.0)
        return plan

    def local_gradients(self, values: Sequence[float], position: int) -> tuple[float, ...]:
        """The local gradient of a gate for each input slot (convention at a kink)."""
        op = self.op_of(position)
        if op is None:
            return ()
        xs = [values[j] for j in self.inputs_of(position)]
        params = self.gates[position - len(self.input_names)].params
        return local_gradients(op, xs, values[position], params)

    def kinks(
        self, values: Sequence[float], positions: Iterable[int] | None = None
    ) -> dict[int, KinkChoices]:
        """Gates sitting exactly on a kink or tie: position -> extreme local gradients.
        `positions` limits the search (e.g. to what `forward` reported)."""
        first = len(self.input_names)
        candidates: Iterable[tuple[int, Op, KinkFunction]] = self._kink_gates
        if positions is not None:
            # Looked up one by one, in position order: a graph may have many more kink
            # gates than gates actually on a kink.
            candidates = []
            for k in sorted(set(positions)):
                op = OPS[self.gates[k - first].op] if k >= first else None
                if op is not None and op.kink is not None:
                    candidates.append((k, op, op.kink))
        found: dict[int, KinkChoices] = {}
        for k, op, kink in candidates:
            ins = self._inputs[k - first]
            xs = values[ins[0]] if op.unary else tuple([values[j] for j in ins])
            choices = kink(xs, values[k], self.gates[k - first].params)
            if choices is not None:
                found[k] = choices
        return found

    def _domain_error(
        self, position: int, exc: BaseException | None, *, gradient: bool = False
    ) -> DomainError:
        name = self.names[position]
        op = self.op_of(position)
        op_name = op.name if op else "input"
        if op is None:
            return DomainError(name, op_name, Text.of(mark("its value is not a finite number")))
        detail = str(exc) if exc is not None else ""
        if not detail:
            reason = (Text.of(mark("its local gradient is undefined or not finite at these inputs"))
                      if gradient else
                      Text.of(mark("its value is undefined or not finite at these inputs")))
        else:
            # Python's own words for the failure ("math domain error"), in its language.
            cause = Text.of(_PYTHON_FAILURES[detail]) if detail in _PYTHON_FAILURES else detail
            reason = (Text.of(mark("its local gradient is undefined or not finite at these inputs "
                                "({cause})"), cause=cause)
                      if gradient else
                      Text.of(mark("its value is undefined or not finite at these inputs "
                                   "({cause})"), cause=cause))
        return DomainError(name, op_name, reason)


# The messages of Python's arithmetic failures a gate can raise, translated when shown.
_PYTHON_FAILURES = {
    "math domain error": mark("math domain error"),
    "math range error": mark("math range error"),
    "float division by zero": mark("float division by zero"),
    "division by zero": mark("division by zero"),
    "integer division or modulo by zero": mark("integer division or modulo by zero"),
    "Result too large": mark("Result too large"),
}
