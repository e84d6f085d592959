"""The worked solution as data: one step per node, forward then backward.

Each step carries the node's value with the formula that produced it, the local
gradient of every incoming edge with its formula ("mul: d/dx0 = w0 = 2.00"), the
upstream gradients that were summed into the node's gradient, and the result. The
command line prints it; the service and the web pages render it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from engine.ops import OPS

if TYPE_CHECKING:
    from engine.solution import Solution


def fmt(value: float) -> str:
    """A number as the worked solution shows it: 2 decimals unless that would hide it."""
    if value == 0 or 0.01 <= abs(value) < 1e6:
        return f"{value:.2f}"
    return f"{value:.3g}"


@dataclass(frozen=True, slots=True)
class LocalGradient:
    """d node / d input along one incoming edge (summed if the input is used twice)."""

    input: str
    value: float
    formula: str


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one consumer sends back: its upstream gradient times its local gradient."""

    consumer: str
    upstream: float
    local: float
    product: float


@dataclass(frozen=True, slots=True)
class Step:
    node: str
    op: str  # "input" for an input
    inputs: tuple[str, ...]
    value: float
    forward: str
    local_gradients: tuple[LocalGradient, ...]
    contributions: tuple[Contribution, ...]
    grad: float
    backward: str
    grad_range: tuple[float, float] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def worked_steps(solution: Solution) -> tuple[Step, ...]:
    """Every node's step, in forward (topological) order, inputs first."""
    exercise = solution.exercise
    graph = exercise.graph
    names = graph.names
    values = solution.values
    grads = solution.grads
    locals_by_gate = {g.id: solution.local_gradients(g.id) for g in exercise.gates}
    gates = {g.id: g for g in exercise.gates}
    steps = []
    for k, name in enumerate(names):
        gate = gates.get(name)
        if gate is None:
            forward = f"{name} = {fmt(values[name])} (given)"
            local: tuple[LocalGradient, ...] = ()
            op_name = "input"
        else:
            op = OPS[gate.op]
            op_name = op.name
            shown = [fmt(values[i]) for i in gate.inputs]
            forward = (
                f"{name} = {op.show(gate.inputs, gate.params)} = "
                f"{op.show(shown, gate.params)} = {fmt(values[name])}"
            )
            local = tuple(
                LocalGradient(
                    input=i,
                    value=d,
                    formula=f"{op.name}: d/d{i} = {_local_formula(op, gate, i)} = {fmt(d)}",
                )
                for i, d in locals_by_gate[name].items()
            )
        contributions = []
        seen: set[str] = set()
        for consumer_pos, _slot in graph.consumers(k):
            consumer = names[consumer_pos]
            if consumer in seen:
                continue
            seen.add(consumer)
            d = locals_by_gate[consumer][name]
            up = grads[consumer]
            contributions.append(Contribution(consumer, up, d, up * d))
        steps.append(Step(
            node=name,
            op=op_name,
            inputs=gate.inputs if gate else (),
            value=values[name],
            forward=forward,
            local_gradients=local,
            contributions=tuple(contributions),
            grad=grads[name],
            backward=_backward_text(exercise.output, name, contributions, grads[name]),
            grad_range=solution.grad_ranges.get(name),
        ))
    return tuple(steps)


def _local_formula(op: Any, gate: Any, name: str) -> str:
    parts = [op.show_local(s, gate.inputs, gate.params)
             for s, i in enumerate(gate.inputs) if i == name]
    return " + ".join(parts)


def _backward_text(output: str, name: str, contributions: list[Contribution], grad: float) -> str:
    head = f"df/d{name}"
    if name == output:
        return f"{head} = 1 (the output)"
    terms = [f"{fmt(c.upstream)} × {fmt(c.local)}" for c in contributions]
    via = ", ".join(f"from {c.consumer}" for c in contributions)
    summed = " + ".join(terms)
    note = " (summed over the branches)" if len(contributions) > 1 else ""
    return f"{head} = {summed} = {fmt(grad)}   [{via}]{note}"
