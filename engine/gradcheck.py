"""Finite-difference checks of gradients: used by the tests and by `grader check`.

Central differences with a step relative to the point, compared to the analytic
gradient with a relative tolerance; a mismatch is retried with a smaller step before it
is reported, so a point merely near a kink is not flagged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from engine.errors import Text, mark
from engine.explain import fmt
from engine.ops import OPS, Op, evaluate, local_gradients

if TYPE_CHECKING:
    from engine.solution import Solution

STEPS = (1e-6, 1e-8)
TOLERANCE = 1e-5


def central_difference(f: Callable[[float], float], x: float, step: float) -> float:
    h = step * max(1.0, abs(x))
    return (f(x + h) - f(x - h)) / (2.0 * h)


def agrees(numeric: float, analytic: float, tolerance: float = TOLERANCE) -> bool:
    return abs(numeric - analytic) <= tolerance * max(1.0, abs(numeric), abs(analytic))


def _checked(f: Callable[[float], float], x: float, analytic: float) -> float | None:
    """None when the analytic value agrees with a finite difference at some step;
    otherwise the finite difference of the last step (what the gradient should be)."""
    numeric = analytic
    for step in STEPS:
        try:
            numeric = central_difference(f, x, step)
        except (ArithmeticError, ValueError):
            return None  # the point is at a domain edge: nothing to compare
        if agrees(numeric, analytic):
            return None
    return numeric


def op_local_mismatches(
    op: Op, xs: Sequence[float], params: dict[str, float]
) -> list[tuple[int, float, float]]:
    """(slot, analytic, numeric) for every slot whose local gradient disagrees with a
    finite difference of the op's forward function at `xs`."""
    y = evaluate(op, xs, params)
    analytic = local_gradients(op, xs, y, params)
    found = []
    for slot, d in enumerate(analytic):
        def f(v: float, slot: int = slot) -> float:
            moved = list(xs)
            moved[slot] = v
            return evaluate(op, moved, params)

        numeric = _checked(f, xs[slot], d)
        if numeric is not None:
            found.append((slot, d, numeric))
    return found


def gradient_mismatches(solution: Solution) -> list[tuple[str, Text]]:
    """(node, message) for every gate whose local gradient, and every input whose
    df/d(input), disagrees with finite differences. Kinks are skipped."""
    exercise = solution.exercise
    graph = exercise.graph
    values = solution.values
    found: list[tuple[str, Text]] = []
    kinked = {graph.names[k] for k in graph.kinks([values[n] for n in graph.names])}
    for gate in exercise.gates:
        if gate.id in kinked:
            continue
        xs = [values[name] for name in gate.inputs]
        for slot, d, numeric in op_local_mismatches(OPS[gate.op], xs, dict(gate.params)):
            found.append((gate.id, Text.of(
                mark("local gradient d/d{input} is {gradient} but finite differences give "
                     "{estimate}"),
                input=gate.inputs[slot], gradient=fmt(d), estimate=fmt(numeric))))
    inputs = dict(solution.variant.inputs)
    for name, value in inputs.items():
        if name in solution.grad_ranges:
            continue

        def output_at(v: float, name: str = name) -> float:
            moved = dict(inputs, **{name: v})
            return graph.forward([moved[n] for n in graph.input_names])[graph.output]

        estimate = _checked(output_at, value, solution.grads[name])  # None at a domain edge
        if estimate is not None:
            found.append((name, Text.of(
                mark("df/d{input} is {gradient} but finite differences give {estimate}"),
                input=name, gradient=fmt(solution.grads[name]), estimate=fmt(estimate))))
    return found
