"""Whole-graph properties, over random DAGs written as YAML and loaded like any exercise.

* df/d(input) equals central finite differences of the output;
* gradients are summed where a node feeds several consumers;
* very deep graphs solve (no recursion);
* the order the gates are written in changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine import (
    OPS,
    DomainError,
    Exercise,
    ExerciseError,
    Solution,
    Variant,
    draw_variant,
    load_exercise,
    solve,
)
from engine.gradcheck import gradient_mismatches

OUTPUT = "out"

PARAMS: dict[str, st.SearchStrategy[float]] = {
    "a": st.integers(-20, 20).map(lambda k: k / 10),
    "c": st.integers(-20, 20).map(lambda k: k / 10),
    "p": st.sampled_from([2.0, 3.0, -1.0, 0.5, 1.5, -2.0]),
}


@dataclass(frozen=True)
class RandomDag:
    inputs: dict[str, float]
    nodes: list[dict[str, Any]]  # as written in the spec, the output gate last

    def spec(self, nodes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "id": "random-dag",
            "title": "A random DAG",
            "inputs": dict(self.inputs),
            "nodes": list(self.nodes if nodes is None else nodes),
            "output": OUTPUT,
        }

    def text(self, nodes: list[dict[str, Any]] | None = None) -> str:
        return yaml.safe_dump(self.spec(nodes), sort_keys=False)


@st.composite
def random_dags(draw: st.DrawFn, max_gates: int = 10) -> RandomDag:
    n_inputs = draw(st.integers(1, 4), label="inputs")
    inputs = {
        f"x{i}": draw(st.integers(-2000, 2000).map(lambda k: k / 1000)) for i in range(n_inputs)
    }
    available = list(inputs)
    consumed: set[str] = set()
    nodes: list[dict[str, Any]] = []
    for k in range(draw(st.integers(1, max_gates), label="gates")):
        op = OPS[draw(st.sampled_from(sorted(OPS)))]
        if op.max_inputs == op.min_inputs:
            arity = op.min_inputs
        else:
            arity = draw(st.integers(op.min_inputs, op.min_inputs + 1))
        # Prefer recent nodes so that graphs get deep, but any earlier node may be used,
        # the same one more than once (x·x) included.
        ins = [draw(st.sampled_from(available[-4:]) | st.sampled_from(available))
               for _ in range(arity)]
        node: dict[str, Any] = {"id": f"g{k}", "op": op.name, "in": ins}
        for p in op.params:
            node[p] = draw(PARAMS[p])
        nodes.append(node)
        consumed.update(ins)
        available.append(node["id"])
    sinks = [name for name in available if name not in consumed]
    if len(sinks) == 1:
        nodes.append({"id": OUTPUT, "op": "scale", "in": sinks, "a": 1.0})
    else:
        nodes.append({"id": OUTPUT, "op": "add", "in": sinks})
    return RandomDag(inputs, nodes)


# ------------------------------------------------------------------ helpers

_SINGULAR_AT_ZERO = {"log", "sqrt", "inv"}


def _smooth_margin(exercise: Exercise, values: Mapping[str, float]) -> float:
    """How far the point is from any kink, tie or singularity of any gate."""
    margin = math.inf
    for gate in exercise.gates:
        xs = [values[name] for name in gate.inputs]
        if gate.op in ("relu", "abs") or gate.op in _SINGULAR_AT_ZERO:
            margin = min(margin, abs(xs[0]))
        elif gate.op == "div":
            margin = min(margin, abs(xs[1]))
        elif gate.op == "pow" and not (gate.params["p"] >= 0 and gate.params["p"].is_integer()):
            margin = min(margin, abs(xs[0]))
        elif gate.op in ("max", "min"):
            y = values[gate.id]
            others = [abs(v - y) for v in xs if v != y]
            margin = min(margin, min(others, default=math.inf))
            if sum(1 for v in xs if v == y) > 1 and len(set(gate.inputs)) > 1:
                margin = 0.0  # an exact tie between different nodes
    return margin


def _branches(exercise: Exercise, values: Mapping[str, float]) -> tuple[object, ...]:
    """Which side of every kink the point is on; the same on both sides of a step means
    the finite difference did not jump across one."""
    sides: list[object] = []
    for gate in exercise.gates:
        xs = [values[name] for name in gate.inputs]
        if gate.op in ("relu", "abs"):
            sides.append(xs[0] > 0)
        elif gate.op in ("max", "min"):
            sides.append(xs.index(values[gate.id]))
    return tuple(sides)


def _solve_at(exercise: Exercise, inputs: Mapping[str, float]) -> Solution:
    return solve(Variant(exercise, None, dict(inputs)))


def _close(numeric: float, analytic: float, tolerance: float = 1e-4) -> bool:
    return abs(numeric - analytic) <= tolerance * max(1.0, abs(numeric), abs(analytic))


def _solved(exercise: Exercise) -> Solution:
    """The solution of the fixed inputs; draws that hit a domain error are rejected."""
    try:
        variant = draw_variant(exercise)
    except ExerciseError as exc:  # the fixed inputs hit a domain error: a different draw
        gate_ids = {g.id for g in exercise.gates}
        assert all(p.node in gate_ids for p in exc.problems), exc
        assume(False)
        raise AssertionError("unreachable") from None
    try:
        return solve(variant)
    except DomainError:
        # Only possible on a kink whose other subgradients reach an undefined local
        # gradient (see test_variants: a domain error behind a kink); not this test's job.
        assume(False)
        raise AssertionError("unreachable") from None


def _loaded_and_solved(dag: RandomDag) -> tuple[Exercise, Solution]:
    exercise = load_exercise(dag.text())  # a valid random graph always loads
    return exercise, _solved(exercise)


GRAPH_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


# ------------------------------------------------------------------ the properties

@GRAPH_SETTINGS
@given(random_dags())
def test_input_gradients_match_finite_differences(dag: RandomDag) -> None:
    exercise, solution = _loaded_and_solved(dag)
    values, grads = solution.values, solution.grads
    assert set(values) == set(grads) == set(dag.inputs) | {n["id"] for n in dag.nodes}
    assert grads[OUTPUT] == 1.0
    assume(all(abs(v) < 1e4 for v in values.values()))
    assume(all(abs(g) < 1e4 for g in grads.values()))
    assume(_smooth_margin(exercise, values) > 1e-2)
    assert solution.grad_ranges == {}  # not at a kink: one gradient per node
    here = _branches(exercise, values)
    for name, x in dag.inputs.items():
        # Several steps: a steep spot (a big inner derivative) needs a small one, a flat
        # one a larger one. A right gradient agrees with at least one of them.
        numeric = []
        for step in (1e-5, 1e-6, 1e-7, 1e-8):
            h = step * max(1.0, abs(x))
            try:
                up = _solve_at(exercise, {**dag.inputs, name: x + h})
                down = _solve_at(exercise, {**dag.inputs, name: x - h})
            except DomainError:
                assume(False)
                return
            assume(_branches(exercise, up.values) == here == _branches(exercise, down.values))
            numeric.append((up.values[OUTPUT] - down.values[OUTPUT]) / (2.0 * h))
        assert any(_close(n, grads[name]) for n in numeric), (
            name, numeric, grads[name], dag.text())
    # the engine's own whole-graph check agrees
    assert gradient_mismatches(solution) == []


@given(st.lists(st.integers(-30, 30).map(lambda k: k / 10), min_size=1, max_size=12),
       st.integers(-30, 30).map(lambda k: k / 10))
def test_gradients_are_summed_over_the_consumers_of_a_node(scales: list[float], x: float
                                                           ) -> None:
    nodes = [{"id": f"s{k}", "op": "scale", "in": ["x"], "a": a} for k, a in enumerate(scales)]
    last = {"id": OUTPUT, "op": "add", "in": [n["id"] for n in nodes]}
    if len(nodes) == 1:
        last = {"id": OUTPUT, "op": "neg", "in": ["s0"]}
    spec = {"id": "fan-out", "title": "Fan out", "inputs": {"x": x},
            "nodes": [*nodes, last], "output": OUTPUT}
    solution = solve(draw_variant(load_exercise(yaml.safe_dump(spec))))
    expected = math.fsum(scales) if len(scales) > 1 else -scales[0]
    assert math.isclose(solution.grads["x"], expected, rel_tol=1e-12, abs_tol=1e-12)
    # the worked solution lists one contribution per consumer, and they add up
    step = next(s for s in solution.steps if s.node == "x")
    assert len(step.contributions) == len(scales)
    assert math.isclose(sum(c.product for c in step.contributions), solution.grads["x"],
                        rel_tol=1e-12, abs_tol=1e-12)


@given(st.integers(-200, 200).map(lambda k: k / 100))
def test_gradients_are_summed_over_different_paths(x: float) -> None:
    # f = sin(x) + x·x + e^x + x/2 : four paths from x, one of them through one gate twice
    text = f"""
id: branches
title: Branches
inputs:
  x: {x!r}
nodes:
  - {{id: a, op: sin, in: [x]}}
  - {{id: b, op: mul, in: [x, x]}}
  - {{id: c, op: exp, in: [x]}}
  - {{id: d, op: scale, in: [x], a: 0.5}}
  - {{id: f, op: add, in: [a, b, c, d]}}
output: f
"""
    solution = solve(draw_variant(load_exercise(text)))
    expected = math.cos(x) + 2 * x + math.exp(x) + 0.5
    assert math.isclose(solution.grads["x"], expected, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(solution.local_gradients("b")["x"], 2 * x, rel_tol=1e-12, abs_tol=0)


def _chain_text(n: int, reverse: bool = False) -> str:
    lines = ["id: deep-chain", "title: A deep chain", "inputs:", "  x: 0.5", "nodes:"]
    gates = []
    for k in range(n):
        source = "x" if k == 0 else f"g{k - 1}"
        if k % 2 == 0:
            gates.append(f"  - {{id: g{k}, op: neg, in: [{source}]}}")
        else:
            gates.append(f"  - {{id: g{k}, op: add_const, in: [{source}], c: 1}}")
    if reverse:
        gates.reverse()
    return "\n".join([*lines, *gates, f"output: g{n - 1}", ""])


def test_a_deep_chain_of_20000_gates_solves_without_recursion() -> None:
    n = 20_000
    # written backwards, so that ordering the gates is part of the work
    exercise = load_exercise(_chain_text(n, reverse=True), max_bytes=None)
    solution = solve(draw_variant(exercise))
    # n/2 rounds of (x -> -x -> 1 - x) bring x back to itself, and df/dx = (-1)^(n/2)
    assert solution.values[f"g{n - 1}"] == 0.5
    assert solution.grads["x"] == 1.0
    assert solution.grads["g0"] == -1.0
    assert [g.id for g in exercise.gates] == [f"g{k}" for k in range(n)]
    assert len(solution.steps) == n + 1


@settings(max_examples=150, deadline=None)
@given(random_dags(max_gates=12), st.randoms(use_true_random=False))
def test_topological_order_does_not_depend_on_the_written_order(dag: RandomDag, rnd: Any
                                                                 ) -> None:
    shuffled = list(dag.nodes)
    rnd.shuffle(shuffled)
    first = load_exercise(dag.text())
    second = load_exercise(dag.text(shuffled))
    for exercise in (first, second):
        seen = set(dag.inputs)
        for gate in exercise.gates:  # every gate comes after all of its inputs
            assert set(gate.inputs) <= seen, gate
            seen.add(gate.id)
        assert seen == set(dag.inputs) | {n["id"] for n in dag.nodes}
    try:
        draw_variant(first)
    except ExerciseError:  # a domain error must be found whatever the order
        try:
            draw_variant(second)
        except ExerciseError:
            return
        raise AssertionError("the shuffled spec solved, the original did not") from None
    a = _solved(first)
    b = _solved(second)
    assert a.values == b.values  # each value is computed from the same inputs either way
    assert a.grads.keys() == b.grads.keys()
    for name, g in a.grads.items():  # sums may be added up in a different order
        assert math.isclose(g, b.grads[name], rel_tol=1e-9, abs_tol=1e-12), name
        lo_a, hi_a = a.grad_ranges.get(name, (g, g))
        lo_b, hi_b = b.grad_ranges.get(name, (b.grads[name], b.grads[name]))
        assert math.isclose(lo_a, lo_b, rel_tol=1e-9, abs_tol=1e-12), name
        assert math.isclose(hi_a, hi_b, rel_tol=1e-9, abs_tol=1e-12), name
