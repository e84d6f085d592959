"""The bundled exercises: the lecture's numbers, and finite differences everywhere."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine import draw_variant, load_exercise, solve
from engine.gradcheck import gradient_mismatches

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
ALL = sorted(EXERCISES.glob("*.yaml"))


def solved(name: str, seed: int | None = None):
    return solve(draw_variant(load_exercise(EXERCISES / f"{name}.yaml"), seed))


def assert_2dp(actual: dict[str, float], expected: dict[str, float]) -> None:
    """The lecture writes its numbers to 2 decimals."""
    for node, value in expected.items():
        assert round(actual[node], 2) == pytest.approx(value, abs=1e-9), node


def test_every_bundled_exercise_is_found():
    names = {p.stem for p in ALL}
    assert {
        "sigmoid-neuron", "sigmoid-neuron-one-gate", "gate-patterns", "branching",
        "rule-exp", "rule-scale", "rule-inv", "rule-add-const", "sigmoid-neuron-random",
    } <= names


def test_lecture_sigmoid_neuron_gate_by_gate():
    s = solved("sigmoid-neuron")
    assert_2dp(s.values, {"p0": -2.00, "p1": 6.00, "s": 1.00, "n": -1.00,
                          "e": 0.37, "d": 1.37, "f": 0.73})
    assert_2dp(s.grads, {"f": 1.00, "d": -0.53, "e": -0.53, "n": -0.20, "s": 0.20,
                         "p0": 0.20, "p1": 0.20, "w2": 0.20, "w0": -0.20, "x0": 0.39,
                         "w1": -0.39, "x1": -0.59})


def test_sigmoid_gate_gives_the_same_gradients_as_its_gates():
    gates = solved("sigmoid-neuron")
    one = solved("sigmoid-neuron-one-gate")
    for name in ("w0", "x0", "w1", "x1", "w2", "s"):
        assert one.grads[name] == pytest.approx(gates.grads[name], rel=1e-12)
    # dσ/ds = σ(s)(1 - σ(s)) at s = 1, computed independently
    sigma = 1 / (1 + math.exp(-1.0))
    assert one.grads["s"] == pytest.approx(sigma * (1 - sigma), rel=1e-12)


def test_gate_patterns_add_distributes_max_routes_mul_swaps():
    s = solved("gate-patterns")
    assert s.values["f"] == -20.0
    assert s.grads["q"] == s.grads["m"] == 2.0  # add distributes
    assert (s.grads["z"], s.grads["w"]) == (2.0, 0.0)  # max routes to the winner
    assert (s.grads["x"], s.grads["y"]) == (2.0 * -4.0, 2.0 * 3.0)  # mul swaps


def test_branching_sums_every_path():
    s = solved("branching")
    x, y = 3.0, -2.0
    # f = (x·y)·(x + y) + max(x, y); by hand: df/dx = y(x+y) + xy + 1
    assert s.grads["x"] == pytest.approx(y * (x + y) + x * y + 1.0)
    assert s.grads["y"] == pytest.approx(x * (x + y) + x * y)


@pytest.mark.parametrize(
    ("name", "node", "local"),
    [
        ("rule-exp", "f", lambda v: math.exp(v["p"])),
        ("rule-scale", "f", lambda v: -2.0),
        ("rule-inv", "f", lambda v: -1.0 / v["s"] ** 2),
        ("rule-add-const", "f", lambda v: 1.0),
    ],
)
def test_local_derivative_rules(name, node, local):
    s = solved(name)
    (only_input,) = s.local_gradients(node)
    assert s.local_gradients(node)[only_input] == pytest.approx(local(s.values), rel=1e-12)


def test_random_neuron_differs_by_seed_and_matches_finite_differences():
    seen = set()
    for seed in range(10):
        s = solved("sigmoid-neuron-random", seed)
        seen.add(tuple(s.variant.inputs.values()))
        assert gradient_mismatches(s) == []
    assert len(seen) > 5


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_exercise_agrees_with_finite_differences(path):
    exercise = load_exercise(path)
    for seed in range(5) if exercise.randomized else [None]:
        assert gradient_mismatches(solve(draw_variant(exercise, seed))) == []


@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_exercise_reads_in_portuguese(path):
    # The lecture is taught in Portuguese: its exercises speak it too.
    exercise = load_exercise(path)
    title, description = exercise.text_in("pt-BR")
    assert title != exercise.title and description != exercise.description
