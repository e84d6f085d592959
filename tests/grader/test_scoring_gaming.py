"""An honest slip scores above gaming, on every bundled exercise and the five a teaching
assistant added (tests/grader/mistake_cases.py):

* one conceptual slip followed by right work (every kind of mistake the registry names,
  in each habit of working) costs only the blanks that hold it, so it keeps at least
  0.85 wherever that many blanks are asked;
* no degenerate strategy (all 0, all 1, forward values copied into the gradients, 0s and
  1s after a right forward pass, random numbers, 1 for every local gradient) scores more
  than the forward values alone would, plus 0.05: what it earns beyond what is right on
  its own (df/df = 1 typed as 1 is right) is held to that.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from mistake_cases import NEW_EXERCISES, bundled, cases, solved

from engine import Solution
from grader.scoring import GradeResult, ScoringPolicy, grade

EXERCISES = {**bundled(), **NEW_EXERCISES}
NAMES = sorted(EXERCISES)


def variants(name: str) -> list[Solution]:
    seeds = (0, 1, 2, 3, 4, 5) if "random" in name else (None,)
    found = [solved(EXERCISES[name], seed) for seed in seeds]
    return [s for s in found if s is not None]


# ---------------------------------------------------------------- the honest slip


@pytest.mark.parametrize("name", NAMES)
def test_one_slip_followed_by_right_work_costs_at_most_its_own_blanks(name):
    for solution in variants(name):
        for case in cases(name, solution):
            if not case.follows:
                continue  # a slip in copying: the work after it is not computed from it
            result = grade(solution, case.submission)
            total = sum(b.max_points for b in result.blanks)
            holding = len(case.accepted)  # two for a swap, or a rule taken for a gate
            assert result.score >= 1 - holding / total - 1e-5, (
                case.code, case.habit, [b for b in result.blanks if b.status == "incorrect"])
            if total >= 7 * holding:
                assert result.score >= 0.85


def test_the_issues_slips_keep_their_carried_credit():
    neuron = variants("sigmoid-neuron")[0]
    # d = 1 for 1.37: e left out of 1 + e. 1 then enters the 1/x gate, and f = 1/1 = 1
    # follows: a slip a named mistake explains is carried, degenerate or not.
    from test_scoring import carried_submission

    for decimals in (None, 2):
        submission = carried_submission(neuron, forward={"d": 1.0}, decimals=decimals)
        result = grade(neuron, submission)
        assert result.score == pytest.approx(18 / 19, abs=1e-6)
        d = next(b for b in result.blanks if (b.kind, b.node) == ("forward", "d"))
        assert d.mistake == "forward-missing-term"


# ---------------------------------------------------------------- degenerate strategies


def right_forward(solution: Solution) -> dict[str, float]:
    return {g.id: round(solution.values[g.id], 2) for g in solution.exercise.gates}


def filled(solution: Solution, forward: Any, backward: Any, local: Any) -> dict[str, Any]:
    """A submission filling every blank asked: each value from the function for its kind."""
    exercise = solution.exercise
    submission: dict[str, Any] = {}
    if "forward" in exercise.ask:
        submission["forward"] = {g.id: forward(g.id) for g in exercise.gates}
    if "backward" in exercise.ask:
        submission["backward"] = {n: backward(n) for n in exercise.graph.names}
    if "local" in exercise.ask:
        submission["local"] = {g.id: {i: local(g.id, i) for i in dict.fromkeys(g.inputs)}
                               for g in exercise.gates}
    return submission


def strategies(solution: Solution) -> dict[str, dict[str, Any]]:
    rng = random.Random(solution.exercise.id)
    right = right_forward(solution)
    values = {**solution.variant.inputs, **solution.values}
    coin = {n: float(rng.choice((0, 1))) for n in solution.exercise.graph.names}
    found = {
        "all 0": filled(solution, lambda g: 0.0, lambda n: 0.0, lambda g, i: 0.0),
        "all 1": filled(solution, lambda g: 1.0, lambda n: 1.0, lambda g, i: 1.0),
        "forward values in the gradients": filled(
            solution, right.get, lambda n: round(values[n], 2),
            lambda g, i: round(values[g], 2)),
        "0 and 1 gradients after a right forward pass": filled(
            solution, right.get, coin.get, lambda g, i: coin[g]),
        "1 for every gradient after a right forward pass": filled(
            solution, right.get, lambda n: 1.0, lambda g, i: 1.0),
        "random numbers": filled(
            solution, lambda g: round(rng.uniform(-3, 3), 2),
            lambda n: round(rng.uniform(-3, 3), 2), lambda g, i: round(rng.uniform(-3, 3), 2)),
    }
    if "local" in solution.exercise.ask:
        found["1 for every local gradient, the rest worked from it"] = ones_as_locals(solution)
    return found


def ones_as_locals(solution: Solution) -> dict[str, Any]:
    """Right forward values, 1 for every local gradient, and every gradient computed
    from those 1s: the chain rule done with nothing to multiply."""
    exercise = solution.exercise
    grads = dict.fromkeys(exercise.graph.names, 0.0)
    grads[exercise.output] = 1.0
    for gate in reversed(exercise.gates):
        for name in dict.fromkeys(gate.inputs):
            grads[name] += grads[gate.id]
    return {"forward": right_forward(solution), "backward": grads,
            "local": {g.id: dict.fromkeys(g.inputs, 1.0) for g in exercise.gates}}


@pytest.mark.parametrize("name", NAMES)
def test_no_degenerate_strategy_scores_above_the_forward_values_alone(name):
    for solution in variants(name):
        forward_alone = grade(solution, {"forward": right_forward(solution)}).score if (
            "forward" in solution.exercise.ask) else 0.0
        for strategy, submission in strategies(solution).items():
            result = grade(solution, submission)
            if one_named_slip(result):
                continue  # the very numbers of an honest slip: scored as that slip
            score = result.score
            on_its_own = grade(solution, submission,
                               policy=ScoringPolicy(carried_cap=0.0)).score
            assert score <= max(forward_alone, on_its_own) + 0.05, (
                strategy, score, forward_alone, on_its_own, [
                    (b.kind, b.node, b.input, b.message) for b in grade(
                        solution, submission).blanks if b.status == "consistent"])


def one_named_slip(result: GradeResult) -> bool:
    """Whether a result is that of one slip a named mistake explains (at most two blanks,
    as a swap or a rule taken for a gate), all else right or carried: a strategy that
    happens to type those numbers cannot be told from the student who slipped (all 1s
    at f = -2·(x + y) are the factor -2 forgotten, then the + gate's copies)."""
    wrong = [b for b in result.blanks if b.status == "incorrect"]
    return 0 < len(wrong) <= 2 and all(b.mistake for b in wrong) and all(
        b.status in ("correct", "consistent", "incorrect") for b in result.blanks)


def test_the_issues_strategies_score_what_the_forward_values_do():
    neuron = variants("sigmoid-neuron")[0]
    forward = right_forward(neuron)
    alone = grade(neuron, {"forward": forward}).score
    ones = grade(neuron, {"forward": forward,
                          "backward": dict.fromkeys(neuron.grads, 1.0)}).score
    assert alone == pytest.approx(7 / 19, abs=1e-6)
    assert ones == pytest.approx(8 / 19, abs=1e-6)  # df/df = 1 is right; nothing carried
