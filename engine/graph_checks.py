"""The graph checks of an exercise spec, as small pure functions, each located:
duplicate ids, arity, undefined references, an output that is not a gate, nodes that
do not reach the output, cycles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.errors import Problem, Text, mark
from engine.graph import CycleError, Gate, topological_order
from engine.ops import OPS
from engine.quoting import quoted

if TYPE_CHECKING:
    from engine.spec import Outline
    from engine.spec_source import Locator


# ---------------------------------------------------------------- graph checks


def check_graph(
    spec: Outline, gates: Sequence[Gate], locate: Locator, *, complete: bool = True
) -> tuple[list[Problem], list[Gate]]:
    """Every structural problem of the graph, each located, and (when there are none)
    the gates in topological order. On an outline of an invalid document
    (`complete=False`) only the checks that cannot cascade are run."""
    where = _GateLocations(spec)
    problems: list[Problem] = []
    for check in (_duplicate_ids, _arity, _undefined_references, _output_is_gate):
        problems += check(spec, gates, where, locate)
    if problems or not complete:
        return problems, []  # cycles and reachability only make sense on a sound graph
    try:
        ordered = topological_order(spec.inputs, gates)
    except CycleError as exc:
        first = next(g for g in gates if g.id == exc.cycle[0])
        loop = " -> ".join([*exc.cycle, exc.cycle[0]])
        return [locate.problem(where.path(first, "in"), Text.of(mark("cycle: {loop}"), loop=loop),
                               "in")], []
    return _unused(spec, gates, where, locate), ordered


class _GateLocations:
    """The document path of each gate (gates from an `expr` point at that node)."""

    def __init__(self, spec: Outline) -> None:
        self.by_id: dict[str, int] = {}
        for k, node in spec.nodes:
            self.by_id.setdefault(node.id, k)

    def path(self, gate: Gate, *rest: str | int) -> tuple[str | int, ...]:
        k = self.by_id[gate.expanded_from or gate.id]
        if gate.expanded_from is not None:
            return ("nodes", k, "expr")
        return ("nodes", k, *rest)


def _duplicate_ids(spec: Outline, gates: Sequence[Gate], where: _GateLocations,
                   locate: Locator) -> list[Problem]:
    problems = []
    seen: set[str] = set(spec.inputs)
    for k, node in spec.nodes:
        if node.id in seen:
            message = (mark("id {id} is already used by an input") if node.id in spec.inputs
                       else mark("id {id} is already used by another node"))
            problems.append(locate.problem(
                ("nodes", k, "id"), Text.of(message, id=quoted(node.id)), "id"))
        seen.add(node.id)
    return problems


def _arity(spec: Outline, gates: Sequence[Gate], where: _GateLocations,
           locate: Locator) -> list[Problem]:
    problems = []
    for gate in gates:
        op = OPS[gate.op]
        n = len(gate.inputs)
        if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
            problems.append(locate.problem(where.path(gate, "in"), _arity_text(op, n), "in"))
    return problems


def _arity_text(op: Any, count: int) -> Text:
    """"{op} takes exactly 2 inputs, got 3", each way of saying the arity a whole sentence."""
    if op.max_inputs == op.min_inputs:
        message = (mark("{op} takes exactly 1 input, got {count}") if op.min_inputs == 1
                   else mark("{op} takes exactly {min} inputs, got {count}"))
    elif op.max_inputs is None:
        message = mark("{op} takes {min} or more inputs, got {count}")
    else:
        message = mark("{op} takes {min} to {max} inputs, got {count}")
    return Text.of(message, op=op.name, count=str(count), min=str(op.min_inputs),
                max=str(op.max_inputs))


def _undefined_references(spec: Outline, gates: Sequence[Gate], where: _GateLocations,
                          locate: Locator) -> list[Problem]:
    # Nodes whose `expr` failed to expand count as defined: no cascade of errors.
    defined = set(spec.inputs) | spec.written_ids | {g.id for g in gates}
    problems = []
    for gate in gates:
        for slot, name in enumerate(gate.inputs):
            if name not in defined:
                field = "expr" if gate.expanded_from else f"in.{slot}"
                problems.append(locate.problem(
                    where.path(gate, "in", slot),
                    Text.of(mark("{name} is not an input or a node"), name=quoted(name)), field))
    return problems


def _output_is_gate(spec: Outline, gates: Sequence[Gate], where: _GateLocations,
                    locate: Locator) -> list[Problem]:
    if spec.output is None or spec.output in spec.written_ids:
        return []
    message = (mark("output {output} is an input, not a gate") if spec.output in spec.inputs
               else mark("output {output} is not a node"))
    return [locate.problem(("output",), Text.of(message, output=quoted(spec.output)), "output")]


def _unused(spec: Outline, gates: Sequence[Gate], where: _GateLocations,
            locate: Locator) -> list[Problem]:
    by_id = {g.id: g for g in gates}
    reached = {spec.output}
    stack = [] if spec.output is None else [spec.output]
    while stack:
        gate = by_id.get(stack.pop())
        if gate is None:
            continue
        for name in gate.inputs:
            if name not in reached:
                reached.add(name)
                stack.append(name)
    problems = []
    output = quoted(spec.output) if spec.output is not None else "None"
    for gate in gates:
        if gate.id not in reached:
            problems.append(locate.problem(
                where.path(gate), Text.of(mark("{node} does not lead to the output {output}"),
                                       node=quoted(gate.id), output=output)))
    for name in spec.inputs:
        if name not in reached:
            problems.append(locate.problem(
                ("inputs", name),
                Text.of(mark("input {input} is not used on the way to the output"),
                     input=quoted(name))))
    return problems

