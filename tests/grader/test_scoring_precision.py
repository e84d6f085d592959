"""What a typed number stands for, through each gate: both habits of the lecture (keep
the digits and show two decimals; compute on from what was typed) are carried alike and
diagnosed alike."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mistake_cases import Student
from test_scoring import carried_submission

from engine import Tolerance, draw_variant, load_exercise, solve
from engine.ops import OPS, evaluate
from grader.scoring import digits_asked, grade
from grader.scoring.precision import gate_range, local_ranges, stands_for, typed_halfwidth
from grader.scoring.tolerance import allowance_for

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
DEFAULT = allowance_for(Tolerance().resolved())


@pytest.mark.parametrize(("typed", "half"), [
    (0.2, 0.005),  # 0.20 arrives as 0.2: the tolerance bounds the digits kept
    (0.39, 0.005), (25.6, 0.05), (0.1966, 0.00005), (-2.0, 0.02), (1.5e-05, 0.0000005),
])
def test_a_typed_number_stands_for_half_a_unit_at_most_the_tolerance(typed, half):
    assert typed_halfwidth(typed, DEFAULT) == pytest.approx(half)


def test_a_right_rounded_number_stands_for_the_reference_too():
    assert stands_for(0.2, 0.1966, right=True, allowance=DEFAULT) == pytest.approx(
        (0.1955, 0.205), abs=1e-3)
    assert stands_for(0.2, 0.1966, right=False, allowance=DEFAULT) == pytest.approx(
        (0.195, 0.205))


@given(st.sampled_from(["add", "sub", "mul", "div", "max", "exp", "log", "inv", "sigmoid",
                        "tanh", "sqrt"]),
       st.floats(0.2, 3), st.floats(0.2, 3), st.floats(0, 0.01), st.floats(0, 1),
       st.floats(0, 1))
def test_a_gate_over_ranges_holds_the_gate_of_every_point_in_them(op, a, b, h, s, t):
    gate = OPS[op]
    xs = [a] if gate.unary else [a, b]
    ranges = [(x - h, x + h) for x in xs]
    low, high = gate_range(gate, xs, ranges, {}) or (math.nan, math.nan)
    inside = [r[0] + (r[1] - r[0]) * u for r, u in zip(ranges, (s, t), strict=False)]
    value = evaluate(gate, inside, {})
    # exact for monotone and bilinear gates; within the square of the range otherwise
    assert low - 1e-6 - h * h * 10 <= value <= high + 1e-6 + h * h * 10


def test_no_range_across_a_pole():
    assert gate_range(OPS["inv"], [0.002], [(-0.003, 0.007)], {}) is None
    assert local_ranges(OPS["log"], [0.002], math.log(0.002), [(-0.003, 0.007)], None,
                        {}) is None
    assert local_ranges(OPS["add"], [1.0, 2.0], 3.0, [(0.9, 1.1), None], None, {}) is None


@pytest.mark.parametrize(("tolerance", "reference", "asked"), [
    (Tolerance(), 0.3932, (2, None)), (Tolerance(), 25.6, (1, None)),
    (Tolerance(), 1234.0, (0, None)), (Tolerance(sigfigs=3), 0.3932, (None, 3)),
    (Tolerance(decimals=3), 0.3932, (3, None)),
])
def test_the_digits_a_tolerance_asks_for(tolerance, reference, asked):
    assert digits_asked(tolerance.resolved(), reference) == asked


# ---------------------------------------------------------------- the cases


def neuron():
    return solve(draw_variant(load_exercise(EXERCISES / "sigmoid-neuron.yaml")))


def keep_digits(solution, **slips):
    """What a student keeping digits and typing two decimals types after these slips."""
    from mistake_cases import Slip

    slip = Slip(forward={g: (lambda _xs, v=v: v) for g, v in slips.items()})
    return Student(solution, "keep digits", slip).work()


@pytest.mark.parametrize("slip", [{"e": 0.8}, {"p0": -2.75}, {"s": 2.0}, {"d": 2.37}])
def test_both_habits_keep_the_same_carried_credit_after_a_slip(slip):
    solution = neuron()
    kept = grade(solution, keep_digits(solution, **slip))
    typed = grade(solution, carried_submission(solution, forward=slip, decimals=2))
    assert kept.score == typed.score == pytest.approx(18 / 19, abs=1e-6)
    assert [b.status for b in kept.blanks] == [b.status for b in typed.blanks]


@pytest.mark.parametrize("typed", [0.59, 0.60])
def test_a_sign_error_is_named_whichever_habit_rounded_it(typed):
    # df/dx1 = df/dp1 · w1 = -0.5898: -0.59 from the unrounded df/dp1, -0.60 from 0.20
    solution = neuron()
    submission = carried_submission(solution, decimals=2)
    submission["backward"]["x1"] = typed
    x1 = next(b for b in grade(solution, submission).blanks
              if (b.kind, b.node) == ("backward", "x1"))
    assert x1.mistake == "sign-flip"


def test_a_right_value_typed_rounded_is_carried_from_either_value():
    # df/dp0 = 0.20 (0.1966): 0.39 (from 0.1966) and 0.40 (from 0.20) both follow
    solution = neuron()
    for x0 in (0.39, 0.40):
        submission = carried_submission(solution)
        submission["backward"].update(p0=0.20, x0=x0)
        result = grade(solution, submission)
        assert result.score == 1.0, x0


@pytest.mark.parametrize(("node", "typed", "not_said"), [
    ("d", 1.0, "insufficient-precision"),  # e left out of 1 + e: a mistake, named
    ("e", 0.4, None),  # 0.37 to one decimal: insufficient precision
])
def test_precision_is_said_only_of_a_right_value_rounded(node, typed, not_said):
    solution = neuron()
    result = grade(solution, carried_submission(solution, forward={node: typed}))
    found = next(b for b in result.blanks if (b.kind, b.node) == ("forward", node))
    if not_said:
        assert found.mistake != not_said and found.mistake is not None
    else:
        assert found.mistake == "insufficient-precision"
        assert "1 decimal place" not in found.message and "2 decimal places" in found.message


def test_integers_are_never_a_precision_problem():
    solution = neuron()
    for node, typed in (("x0", 1.0), ("x1", -1.0), ("w0", 0.0)):
        submission = carried_submission(solution)
        submission["backward"][node] = typed
        found = next(b for b in grade(solution, submission).blanks
                     if (b.kind, b.node) == ("backward", node))
        assert found.mistake != "insufficient-precision", (node, found)
