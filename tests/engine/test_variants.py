"""Seeded variants: ranges and grids, reproducibility, redraws, and solving at a tie."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ExerciseError, Variant, draw_variant, load_exercise, solve
from engine.spec import Exercise

REPO = Path(__file__).resolve().parents[2]
SEEDS = range(300)


def exercise_of(inputs: dict[str, Any], nodes: list[dict[str, Any]], output: str | None = None
                ) -> Exercise:
    text = yaml.safe_dump({
        "id": "variant-test",
        "title": "Variants",
        "inputs": inputs,
        "nodes": nodes,
        "output": output or nodes[-1]["id"],
    }, sort_keys=False)
    return load_exercise(text)


def summed(inputs: dict[str, Any]) -> Exercise:
    """An exercise that adds (or negates) its inputs: no domain errors, no kinks."""
    names = list(inputs)
    node = ({"id": "f", "op": "add", "in": names} if len(names) > 1
            else {"id": "f", "op": "neg", "in": names})
    return exercise_of(inputs, [node])


def values_of(exercise: Exercise, name: str, seeds: range = SEEDS) -> list[float]:
    return [draw_variant(exercise, seed).inputs[name] for seed in seeds]


# ------------------------------------------------------------------ ranges and grids

def test_uniform_with_step_stays_on_the_grid_and_reaches_both_ends() -> None:
    values = values_of(summed({"x": {"uniform": [-3, 3], "step": 0.5}}), "x")
    for v in values:
        assert -3.0 <= v <= 3.0
        k = (v + 3.0) / 0.5
        assert abs(k - round(k)) < 1e-9, v
    assert set(values) == {-3.0 + 0.5 * k for k in range(13)}


def test_uniform_with_a_decimal_step_gives_exact_decimals() -> None:
    values = values_of(summed({"x": {"uniform": [0, 1], "step": 0.1}}), "x")
    assert set(values) == {round(0.1 * k, 1) for k in range(11)}  # 0.3, not 0.30000000000000004


def test_uniform_without_step_is_rounded_to_two_decimals() -> None:
    values = values_of(summed({"x": {"uniform": [-1.5, 2.5]}}), "x")
    for v in values:
        assert -1.5 <= v <= 2.5
        assert round(v, 2) == v
    assert len(set(values)) > 150  # really spread over the range, not a few points


def test_uniform_with_decimals() -> None:
    values = values_of(summed({"x": {"uniform": [0, 1], "decimals": 3}}), "x")
    assert all(round(v, 3) == v and 0.0 <= v <= 1.0 for v in values)
    assert any(round(v, 2) != v for v in values)


def test_randint_gives_every_integer_in_the_closed_range() -> None:
    values = values_of(summed({"x": {"randint": [-5, 5]}}), "x")
    assert all(isinstance(v, float) and v.is_integer() for v in values)
    assert set(values) == {float(k) for k in range(-5, 6)}


def test_choice_gives_every_listed_value_and_nothing_else() -> None:
    values = values_of(summed({"x": {"choice": [-2, -1, 1, 2.5]}}), "x")
    assert set(values) == {-2.0, -1.0, 1.0, 2.5}


def test_fixed_inputs_stay_fixed_next_to_random_ones() -> None:
    exercise = summed({"w": 3, "x": {"randint": [0, 9]}})
    for seed in range(20):
        variant = draw_variant(exercise, seed)
        assert variant.inputs["w"] == 3.0 and isinstance(variant.inputs["w"], float)


# ------------------------------------------------------------------ reproducibility

RANDOM_SPEC = {
    "u": {"uniform": [-3, 3], "step": 0.25},
    "v": {"uniform": [-100, 100]},
    "n": {"randint": [-1000, 1000]},
    "c": {"choice": [-2, -1, 1, 2]},
}


def test_same_spec_and_seed_give_the_same_variant() -> None:
    first = summed(RANDOM_SPEC)
    second = summed(RANDOM_SPEC)  # loaded again: nothing cached on the exercise matters
    for seed in (0, 1, 7, 12345, 2**40):
        a = draw_variant(first, seed)
        b = draw_variant(first, seed)
        c = draw_variant(second, seed)
        assert a.seed == b.seed == c.seed == seed
        assert dict(a.inputs) == dict(b.inputs) == dict(c.inputs)


_CHILD = """
import json, sys
from engine import draw_variant, load_exercise
exercise = load_exercise(sys.stdin.read())
print(json.dumps({str(s): draw_variant(exercise, s).inputs for s in range(20)}))
"""


@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_same_seed_gives_the_same_variant_in_a_fresh_interpreter(hash_seed: str) -> None:
    exercise = summed(RANDOM_SPEC)
    here = {str(s): dict(draw_variant(exercise, s).inputs) for s in range(20)}
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], input=exercise.text, capture_output=True, text=True,
        cwd=REPO, env=env, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == here


def test_different_seeds_give_different_variants() -> None:
    exercise = summed(RANDOM_SPEC)
    variants = {tuple(sorted(draw_variant(exercise, s).inputs.items())) for s in range(50)}
    assert len(variants) == 50


def test_no_seed_gives_the_fixed_values_of_a_fixed_exercise() -> None:
    exercise = summed({"a": 1.5, "b": -2})
    variant = draw_variant(exercise)
    assert isinstance(variant, Variant)
    assert variant.seed is None
    assert dict(variant.inputs) == {"a": 1.5, "b": -2.0}
    assert dict(draw_variant(exercise, 99).inputs) == {"a": 1.5, "b": -2.0}


def test_no_seed_means_seed_zero_for_a_random_exercise() -> None:
    exercise = summed(RANDOM_SPEC)
    variant = draw_variant(exercise)
    assert variant.seed == 0
    assert dict(variant.inputs) == dict(draw_variant(exercise, 0).inputs)


# ------------------------------------------------------------------ redraws

@pytest.mark.parametrize(("op", "choices", "only"), [
    ("log", [-1, 2], 2.0),  # log of a non-positive: domain error
    ("sqrt", [-4, 4], 4.0),
    ("sqrt", [0, 4], 4.0),  # sqrt(0) is defined, its gradient is not
    ("inv", [0, 0.5], 0.5),
    ("relu", [0, 1], 1.0),  # a kink
    ("abs", [0, -1.5], -1.5),
])
def test_a_draw_that_hits_a_domain_error_or_a_kink_is_redrawn(
    op: str, choices: list[float], only: float
) -> None:
    exercise = exercise_of({"x": {"choice": choices}}, [{"id": "f", "op": op, "in": ["x"]}])
    assert set(values_of(exercise, "x", range(60))) == {only}


def test_a_tie_is_redrawn() -> None:
    exercise = exercise_of(
        {"x": {"choice": [1, 2]}, "y": {"choice": [1, 2]}},
        [{"id": "m", "op": "max", "in": ["x", "y"]}],
    )
    pairs = {(v.inputs["x"], v.inputs["y"]) for v in (draw_variant(exercise, s) for s in SEEDS)}
    assert pairs == {(1.0, 2.0), (2.0, 1.0)}


def test_a_division_by_zero_is_redrawn() -> None:
    exercise = exercise_of({"x": 1.0, "y": {"randint": [-1, 1]}},
                           [{"id": "f", "op": "div", "in": ["x", "y"]}])
    assert set(values_of(exercise, "y", range(60))) == {-1.0, 1.0}


def test_a_kink_on_a_uniform_grid_is_redrawn() -> None:
    exercise = exercise_of({"x": {"uniform": [-1, 1], "step": 1}},
                           [{"id": "f", "op": "relu", "in": ["x"]}])
    assert set(values_of(exercise, "x", range(60))) == {-1.0, 1.0}


def test_a_domain_error_deep_in_the_graph_is_redrawn() -> None:
    # log(x - 1): x = 1 fails only in the second gate
    exercise = exercise_of(
        {"x": {"choice": [1, 3]}},
        [{"id": "d", "op": "add_const", "in": ["x"], "c": -1},
         {"id": "f", "op": "log", "in": ["d"]}],
    )
    assert set(values_of(exercise, "x", range(60))) == {3.0}


def _line(exercise: Exercise, fragment: str) -> int:
    rows = [k for k, line in enumerate(exercise.text.splitlines(), 1) if fragment in line]
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize(("inputs", "bad", "what"), [
    ({"x": {"choice": [-1, -2]}}, {"id": "l", "op": "log", "in": ["x"]}, "log"),
    ({"x": {"randint": [0, 0]}}, {"id": "l", "op": "relu", "in": ["x"]}, "kink"),
    ({"x": {"choice": [0]}}, {"id": "l", "op": "abs", "in": ["x"]}, "kink"),
    ({"x": {"choice": [3]}, "y": {"choice": [3]}}, {"id": "l", "op": "max", "in": ["x", "y"]},
     "tie"),
])
def test_draws_that_always_fail_name_the_gate(inputs: dict[str, Any], bad: dict[str, Any],
                                              what: str) -> None:
    exercise = exercise_of(inputs, [bad, {"id": "f", "op": "scale", "in": ["l"], "a": 2}])
    for seed in (None, 0, 17):
        with pytest.raises(ExerciseError) as info:
            draw_variant(exercise, seed)
        (problem,) = info.value.problems
        assert problem.node == "l"
        assert problem.line == _line(exercise, "id: l")
        assert problem.file == exercise.source
        assert what in problem.message


@pytest.mark.parametrize(("inputs", "gate", "what"), [
    ({"x": -1.0}, {"id": "l", "op": "log", "in": ["x"]}, "log"),
    ({"x": 0.0}, {"id": "l", "op": "inv", "in": ["x"]}, "inv"),
    ({"x": -4.0}, {"id": "l", "op": "sqrt", "in": ["x"]}, "sqrt"),
    ({"x": 0.0}, {"id": "l", "op": "sqrt", "in": ["x"]}, "gradient"),
    ({"x": 1.0, "y": 0.0}, {"id": "l", "op": "div", "in": ["x", "y"]}, "div"),
    ({"x": -2.0}, {"id": "l", "op": "pow", "in": ["x"], "p": 0.5}, "pow"),
    ({"x": 800.0}, {"id": "l", "op": "exp", "in": ["x"]}, "exp"),  # overflow
])
def test_fixed_inputs_with_a_domain_error_name_the_gate_and_its_line(
    inputs: dict[str, float], gate: dict[str, Any], what: str
) -> None:
    exercise = exercise_of(inputs, [gate, {"id": "f", "op": "neg", "in": ["l"]}])
    with pytest.raises(ExerciseError) as info:
        draw_variant(exercise)
    (problem,) = info.value.problems
    assert problem.node == "l"
    assert problem.line == _line(exercise, "id: l")
    assert what in problem.message


@pytest.mark.parametrize("kink", ["abs", "relu"])
def test_a_domain_error_behind_a_kink_is_reported_not_raised(kink: str) -> None:
    # |sqrt(x)| at x = 0: the convention abs'(0) = 0 stops the gradient before sqrt, but
    # the other valid subgradients (±1) need sqrt'(0), which does not exist.
    exercise = exercise_of({"x": 0.0}, [{"id": "s", "op": "sqrt", "in": ["x"]},
                                        {"id": "f", "op": kink, "in": ["s"]}])
    try:
        variant = draw_variant(exercise)
    except ExerciseError as exc:
        assert exc.problems[0].node == "s"
        return
    solution = solve(variant)  # must not raise DomainError
    assert solution.values["f"] == 0.0


def test_fixed_inputs_on_a_kink_are_allowed() -> None:
    exercise = exercise_of({"x": 0.0}, [{"id": "f", "op": "relu", "in": ["x"]}])
    assert draw_variant(exercise).inputs["x"] == 0.0


# ------------------------------------------------------------------ solving at a tie

def test_max_tie_reports_both_routings() -> None:
    exercise = exercise_of(
        {"x": 2.0, "y": 2.0},
        [{"id": "m", "op": "max", "in": ["x", "y"]}, {"id": "f", "op": "scale", "in": ["m"],
                                                     "a": -3}],
    )
    solution = solve(draw_variant(exercise))
    assert solution.values["m"] == 2.0
    # the convention: the first winner takes the gradient
    assert (solution.grads["x"], solution.grads["y"], solution.grads["m"]) == (-3.0, 0.0, -3.0)
    assert solution.local_gradients("m") == {"x": 1.0, "y": 0.0}
    # the valid answers: anything between the two routings
    assert solution.grad_ranges == {"x": (-3.0, 0.0), "y": (-3.0, 0.0)}
    assert solution.local_ranges == {("m", "x"): (0.0, 1.0), ("m", "y"): (0.0, 1.0)}


def test_three_way_min_tie() -> None:
    exercise = exercise_of(
        {"x": 1.0, "y": 1.0, "z": 1.0, "w": 4.0},
        [{"id": "m", "op": "min", "in": ["x", "y", "z"]},
         {"id": "f", "op": "mul", "in": ["m", "w"]}],
    )
    solution = solve(draw_variant(exercise))
    assert [solution.grads[n] for n in "xyz"] == [4.0, 0.0, 0.0]
    assert {n: solution.grad_ranges[n] for n in "xyz"} == {n: (0.0, 4.0) for n in "xyz"}
    assert "w" not in solution.grad_ranges and "m" not in solution.grad_ranges


def test_a_tie_whose_routings_give_the_same_answer_has_no_range() -> None:
    # max(x + 0, x): either routing sends the whole gradient back to x
    exercise = exercise_of(
        {"x": 1.0},
        [{"id": "a", "op": "add_const", "in": ["x"], "c": 0},
         {"id": "m", "op": "max", "in": ["a", "x"]}],
    )
    solution = solve(draw_variant(exercise))
    assert solution.grads["x"] == 1.0
    assert "x" not in solution.grad_ranges
    assert solution.grad_ranges == {"a": (0.0, 1.0)}
    assert solution.local_ranges[("m", "a")] == (0.0, 1.0)


def test_routings_that_differ_only_by_rounding_give_no_range() -> None:
    # df/dx = -1 + 0.1 + 0.2 whichever of a, b the max routes to; only the order in which
    # the three terms are added differs, and that must not show up as a range of answers.
    exercise = exercise_of(
        {"x": 1.0},
        [{"id": "a", "op": "neg", "in": ["x"]},
         {"id": "c", "op": "scale", "in": ["x"], "a": 0.1},
         {"id": "b", "op": "neg", "in": ["x"]},
         {"id": "m", "op": "max", "in": ["a", "b"]},
         {"id": "d", "op": "scale", "in": ["x"], "a": 0.2},
         {"id": "f", "op": "add", "in": ["m", "c", "d"]}],
    )
    solution = solve(draw_variant(exercise))
    assert math.isclose(solution.grads["x"], -0.7, rel_tol=1e-12)
    assert set(solution.grad_ranges) == {"a", "b"}


def test_max_of_the_same_node_twice() -> None:
    exercise = exercise_of({"x": 1.0}, [{"id": "m", "op": "max", "in": ["x", "x"]}])
    solution = solve(draw_variant(exercise))
    assert solution.grads["x"] == 1.0
    assert solution.grad_ranges == {}
    assert solution.local_gradients("m") == {"x": 1.0}
    assert solution.local_ranges[("m", "x")] == (1.0, 1.0)


@pytest.mark.parametrize(("op", "grad_range", "local_range"), [
    ("relu", (0.0, 5.0), (0.0, 1.0)),
    ("abs", (-5.0, 5.0), (-1.0, 1.0)),
])
def test_kink_at_zero_reports_its_range(op: str, grad_range: tuple[float, float],
                                        local_range: tuple[float, float]) -> None:
    exercise = exercise_of(
        {"x": 0.0}, [{"id": "k", "op": op, "in": ["x"]},
                     {"id": "f", "op": "scale", "in": ["k"], "a": 5}])
    solution = solve(draw_variant(exercise))
    assert solution.grads["x"] == 0.0  # relu'(0) = abs'(0) = 0
    assert solution.grad_ranges == {"x": grad_range}
    assert solution.local_ranges == {("k", "x"): local_range}


def test_two_kinks_in_a_row_combine() -> None:
    # relu(max(x, y)) at x = y = 0: df/dx is 0 or 1 whatever the choices
    exercise = exercise_of(
        {"x": 0.0, "y": 0.0},
        [{"id": "m", "op": "max", "in": ["x", "y"]}, {"id": "f", "op": "relu", "in": ["m"]}],
    )
    solution = solve(draw_variant(exercise))
    assert solution.grad_ranges == {"x": (0.0, 1.0), "y": (0.0, 1.0), "m": (0.0, 1.0)}


def test_no_ranges_away_from_kinks() -> None:
    exercise = exercise_of(
        {"x": 2.0, "y": 1.0},
        [{"id": "m", "op": "max", "in": ["x", "y"]}, {"id": "f", "op": "relu", "in": ["m"]}],
    )
    solution = solve(draw_variant(exercise))
    assert solution.grad_ranges == {} and solution.local_ranges == {}


# ------------------------------------------------------------------ never a traceback

_bounds = st.floats(-1e308, 1e308, allow_nan=False) | st.integers(-10**6, 10**6)
_random_inputs = st.one_of(
    st.builds(lambda lo, hi, step: {"uniform": [lo, hi], "step": step},
              _bounds, _bounds, st.floats(1e-300, 1e300)),
    st.builds(lambda lo, hi: {"uniform": [lo, hi]}, _bounds, _bounds),
    st.builds(lambda lo, hi: {"randint": [lo, hi]}, st.integers(-10**20, 10**20),
              st.integers(-10**20, 10**20)),
    st.builds(lambda xs: {"choice": xs}, st.lists(_bounds, min_size=1, max_size=4)),
)


@settings(max_examples=300, deadline=None)
@given(_random_inputs, st.sampled_from(["neg", "log", "relu", "inv", "exp"]),
       st.integers(0, 2**63))
def test_drawing_gives_a_variant_or_an_exercise_error(
    value: dict[str, Any], op: str, seed: int
) -> None:
    try:
        exercise = exercise_of({"x": value}, [{"id": "f", "op": op, "in": ["x"]}])
        variant = draw_variant(exercise, seed)
    except ExerciseError as exc:
        assert exc.problems
        return
    x = variant.inputs["x"]
    assert math.isfinite(x)
    solution = solve(variant)
    assert math.isfinite(solution.values["f"]) and math.isfinite(solution.grads["x"])


def test_a_step_far_smaller_than_the_range_is_an_authoring_error() -> None:
    with pytest.raises(ExerciseError) as info:
        exercise_of({"x": {"uniform": [0, 1e300], "step": 1e-300}},
                    [{"id": "f", "op": "neg", "in": ["x"]}])
    (problem,) = info.value.problems
    assert problem.node == "x" and "step is too small" in problem.message
