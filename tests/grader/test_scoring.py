"""grade(): statuses, error carried forward, the gaming guard, the cap, first_error,
format errors, kinks, and the JSON result shape."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from engine import Exercise, Solution, draw_variant, load_exercise, solve
from engine.explain import fmt
from engine.ops import OPS, evaluate, local_gradients
from grader.scoring import (
    DEFAULT_POLICY,
    BlankResult,
    GradeResult,
    ScoringPolicy,
    Submission,
    SubmissionError,
    grade,
    parse_submission,
)

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


def solved(source: str | Path, seed: int | None = None) -> Solution:
    return solve(draw_variant(load_exercise(source), seed))


def carried_submission(
    solution: Solution,
    *,
    forward: dict[str, float] | None = None,
    backward: dict[str, float] | None = None,
    local: dict[tuple[str, str], float] | None = None,
    decimals: int | None = None,
) -> dict[str, Any]:
    """What a student types who wrote these numbers and computed every other blank from
    their own numbers (every blank the exercise asks for is filled). With `decimals`,
    every number they type is rounded so before it is used further, as when working by
    hand (local gradients too, when they are asked)."""
    forward, backward, local = forward or {}, backward or {}, local or {}
    exercise: Exercise = solution.exercise

    def typed(value: float) -> float:
        return value if decimals is None else round(value, decimals)

    def typed_local(value: float) -> float:
        return typed(value) if "local" in exercise.ask else value

    values = dict(solution.variant.inputs)
    for gate in exercise.gates:
        computed = evaluate(OPS[gate.op], [values[i] for i in gate.inputs], gate.params)
        values[gate.id] = forward.get(gate.id, typed(computed))
    grads = dict.fromkeys(exercise.graph.names, 0.0)
    grads[exercise.output] = 1.0
    locals_: dict[str, dict[str, float]] = {}
    for gate in reversed(exercise.gates):
        # Every consumer of the gate came before it on the way back: its gradient is final.
        grads[gate.id] = backward.get(gate.id, typed(grads[gate.id]))
        xs = [values[i] for i in gate.inputs]
        mine = locals_.setdefault(gate.id, {})
        for name, d in zip(gate.inputs, local_gradients(OPS[gate.op], xs, values[gate.id],
                                                        gate.params), strict=True):
            mine[name] = mine.get(name, 0.0) + d
        for name in mine:
            mine[name] = local.get((gate.id, name), typed_local(mine[name]))
            grads[name] += grads[gate.id] * mine[name]
    for name in exercise.inputs:
        grads[name] = backward.get(name, typed(grads[name]))
    submission: dict[str, Any] = {}
    if "forward" in exercise.ask:
        submission["forward"] = {g.id: values[g.id] for g in exercise.gates}
    if "backward" in exercise.ask:
        submission["backward"] = grads
    if "local" in exercise.ask:
        submission["local"] = locals_
    return submission


def blank(result: GradeResult, kind: str, node: str, input_: str | None = None) -> BlankResult:
    return next(b for b in result.blanks
                if (b.kind, b.node, b.input) == (kind, node, input_))


def statuses(result: GradeResult) -> dict[tuple[str, str, str | None], str]:
    return {(b.kind, b.node, b.input): b.status for b in result.blanks}


@pytest.fixture(scope="module")
def neuron() -> Solution:
    return solved(EXERCISES / "sigmoid-neuron.yaml")


LOCAL_NEURON = (EXERCISES / "sigmoid-neuron.yaml").read_text() + "ask: [forward, backward, local]\n"


# ---------------------------------------------------------------- basics and shape


@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_reference_solution_scores_one_on_every_bundled_exercise(path):
    solution = solved(path)
    result = grade(solution, carried_submission(solution))
    assert result.score == 1.0
    assert {b.status for b in result.blanks} == {"correct"}
    assert result.first_error is None
    assert not result.has_format_errors
    assert result.summary() == "Every blank is right."


def test_the_lectures_two_decimal_answers_score_one(neuron):
    exercise = neuron.exercise
    submission = {
        "forward": {g.id: round(neuron.values[g.id], 2) for g in exercise.gates},
        "backward": {n: round(g, 2) for n, g in neuron.grads.items()},
    }
    assert grade(neuron, submission).score == 1.0


def test_the_result_has_exactly_the_documented_json_shape(neuron):
    submission = carried_submission(neuron, forward={"p0": -2.5}, local={})
    submission["backward"].pop("w2")
    result = grade(neuron, submission).as_dict()
    assert set(result) == {"score", "blanks", "first_error"}
    assert 0.0 <= result["score"] <= 1.0
    for item in result["blanks"]:
        assert set(item) == {"kind", "node", "status", "points", "max_points", "mistake",
                             "message"}
        assert item["kind"] in ("forward", "backward")
        assert item["status"] in ("correct", "consistent", "incorrect", "missing", "invalid")
    assert set(result["first_error"]) == {"kind", "node", "propagated_into"}
    json.dumps(result, allow_nan=False)


def test_as_json_is_the_result_as_compact_json(neuron):
    for submission in (carried_submission(neuron), carried_submission(neuron, forward={"p0": 9.0})):
        result = grade(neuron, submission)
        assert json.loads(result.as_json()) == result.as_dict()
        assert result.as_json() is result.as_json()  # written once


def test_submissions_right_throughout_share_one_result(neuron):
    exact = grade(neuron, carried_submission(neuron))
    rounded = grade(neuron, carried_submission(neuron, decimals=4))
    assert rounded is exact
    assert grade(neuron, carried_submission(neuron), policy=ScoringPolicy(
        consistent_share=0.5)) is not exact
    slipped = grade(neuron, carried_submission(neuron, forward={"p0": 9.0}))
    assert slipped is not exact and slipped.score < 1.0


def test_local_blanks_name_their_input():
    solution = solved(LOCAL_NEURON)
    result = grade(solution, carried_submission(solution)).as_dict()
    local = [b for b in result["blanks"] if b["kind"] == "local"]
    assert {(b["node"], b["input"]) for b in local} >= {("p0", "w0"), ("p0", "x0"), ("s", "w2")}
    assert all(b["status"] == "correct" for b in local)


def test_blanks_come_in_working_order(neuron):
    result = grade(neuron, carried_submission(neuron))
    order = [(b.kind, b.node) for b in result.blanks]
    assert order[:7] == [("forward", n) for n in ("p0", "p1", "s", "n", "e", "d", "f")]
    assert order[7:14] == [("backward", n) for n in ("f", "d", "e", "n", "s", "p1", "p0")]
    assert order[14:] == [("backward", n) for n in ("w0", "x0", "w1", "x1", "w2")]


def test_missing_blanks_count_as_missing(neuron):
    result = grade(neuron, {"forward": {"p0": -2.0}})
    assert blank(result, "forward", "p0").status == "correct"
    assert blank(result, "forward", "p1").status == "missing"
    assert blank(result, "backward", "x0").status == "missing"
    assert result.score == pytest.approx(1 / 19, abs=1e-6)
    assert result.first_error is None
    assert "18 blank(s) left" in result.summary()


def test_no_reference_value_appears_in_the_result(neuron):
    wrong = {"forward": {g.id: 100.0 + k for k, g in enumerate(neuron.exercise.gates)},
             "backward": {n: -100.0 - k for k, n in enumerate(neuron.grads)}}
    text = json.dumps(grade(neuron, wrong).as_dict())
    for value in [*neuron.values.values(), *neuron.grads.values()]:
        if value not in (0.0, 1.0, -1.0, 2.0, -2.0):  # too common to look for
            assert repr(value) not in text
            assert fmt(value) not in text


# ---------------------------------------------------------------- error carried forward


def test_one_forward_slip_costs_one_blank(neuron):
    result = grade(neuron, carried_submission(neuron, forward={"p0": -2.5}))
    assert blank(result, "forward", "p0").status == "incorrect"
    assert blank(result, "forward", "p1").status == "correct"
    for node in ("s", "n", "e", "d", "f"):
        assert blank(result, "forward", node).status == "consistent"
    assert blank(result, "backward", "f").status == "correct"
    assert blank(result, "backward", "x0").status == "consistent"
    # 1 incorrect + 1 correct forward, 16 consistent, 1 correct backward: the default
    # cap lets the slip cost exactly its own blank.
    assert DEFAULT_POLICY.carried_cap is None
    assert result.score == pytest.approx(18 / 19, abs=1e-6)
    capped = grade(neuron, carried_submission(neuron, forward={"p0": -2.5}),
                   policy=ScoringPolicy(carried_cap=0.9))
    assert capped.score == pytest.approx(0.9)


@pytest.mark.parametrize(("kind", "node"), [("forward", "p0"), ("forward", "e"),
                                            ("backward", "d"), ("backward", "s")])
@pytest.mark.parametrize("points", [(1.0, 1.0), (2.0, 1.0), (1.0, 3.0), (0.0, 1.0),
                                    (1.0, 0.0)])
def test_by_default_one_slip_costs_exactly_one_blank(neuron, kind, node, points):
    policy = ScoringPolicy(forward_points=points[0], backward_points=points[1])
    wrong = {"forward": neuron.values, "backward": neuron.grads}[kind][node] * 1.5 + 0.25
    submission = carried_submission(neuron, **{kind: {node: wrong}})
    result = grade(neuron, submission, policy=policy)
    assert blank(result, kind, node).status == "incorrect"
    assert {b.status for b in result.blanks} - {"incorrect"} <= {"correct", "consistent"}
    assert sum(b.status == "incorrect" for b in result.blanks) == 1
    total = sum(b.max_points for b in result.blanks)
    assert result.score == pytest.approx(1 - policy.points(kind) / total, abs=1e-6)


def test_a_consistent_message_names_the_value_it_follows_from(neuron):
    result = grade(neuron, carried_submission(neuron, forward={"p0": -2.5}))
    assert blank(result, "forward", "s").message == (
        "consistent with your value of p0 (error carried forward)")
    assert "your df/dd" in blank(result, "backward", "e").message


def test_a_late_slip_leaves_the_rest_correct(neuron):
    result = grade(neuron, carried_submission(neuron, backward={"x1": 0.7}))
    assert blank(result, "backward", "x1").status == "incorrect"
    assert result.score == pytest.approx(18 / 19, abs=1e-6)
    assert result.first_error is not None
    assert result.first_error.propagated_into == ()


def test_a_gradient_slip_is_carried_upstream_only(neuron):
    result = grade(neuron, carried_submission(neuron, backward={"n": -0.3}))
    assert blank(result, "backward", "n").status == "incorrect"
    for node in ("s", "p0", "p1", "w0", "x0", "w1", "x1", "w2"):
        assert blank(result, "backward", node).status == "consistent", node
    for node in ("f", "d", "e"):
        assert blank(result, "backward", node).status == "correct"
    assert all(blank(result, "forward", g.id).status == "correct" for g in neuron.exercise.gates)


def test_first_error_is_the_first_in_working_order_with_what_it_propagated_into(neuron):
    submission = carried_submission(neuron, forward={"e": 0.5}, backward={"x1": 0.7})
    result = grade(neuron, submission)
    first = result.first_error
    assert first is not None
    assert (first.blank.kind, first.blank.node) == ("forward", "e")
    into = {(b.kind, b.node) for b in first.propagated_into}
    assert {("forward", "d"), ("forward", "f"), ("backward", "d"), ("backward", "n")} <= into
    assert ("backward", "x1") not in into  # a second, independent error
    assert ("forward", "p0") not in into
    assert result.summary().startswith("Start fixing here: e (forward): ")
    assert f"carried into {len(first.propagated_into)} later blanks" in result.summary()
    assert result.as_dict()["first_error"]["propagated_into"][0] == {"kind": "forward",
                                                                     "node": "d"}


def test_a_backward_error_comes_first_from_the_output_back(neuron):
    submission = carried_submission(neuron, backward={"d": -0.4, "p0": 0.5})
    first = grade(neuron, submission).first_error
    assert first is not None
    assert (first.blank.kind, first.blank.node) == ("backward", "d")


def test_local_blanks_are_labelled_apart_from_gradients():
    solution = solved(LOCAL_NEURON)
    result = grade(solution, carried_submission(solution, local={("f", "d"): 0.5344}))
    labels = [result.label(b) for b in result.blanks]
    assert len(set(labels)) == len(labels)
    assert result.label(blank(result, "backward", "d")) == "df/dd"
    assert result.label(blank(result, "local", "f", "d")) == "local ∂f/∂d"
    assert blank(result, "backward", "d").message == (
        "consistent with your local ∂f/∂d (error carried forward)")
    assert result.summary().startswith("Start fixing here: local ∂f/∂d: ")


def test_local_blanks_are_carried_too():
    solution = solved(LOCAL_NEURON)
    result = grade(solution, carried_submission(solution, forward={"e": 0.5}))
    # d f/d d = -1/d² at the student's d; de/dn = e, their own e
    assert blank(result, "local", "f", "d").status == "consistent"
    assert blank(result, "local", "e", "n").status == "consistent"
    assert blank(result, "local", "p0", "x0").status == "correct"


def test_a_wrong_typed_local_gradient_is_carried_into_the_gradient():
    solution = solved(LOCAL_NEURON)
    result = grade(solution, carried_submission(solution, local={("p0", "x0"): 3.0}))
    assert blank(result, "local", "p0", "x0").status == "incorrect"
    assert blank(result, "backward", "x0").status == "consistent"
    assert "your local ∂p0/∂x0" in blank(result, "backward", "x0").message
    assert blank(result, "backward", "w0").status == "correct"


def test_consistent_share_is_configurable(neuron):
    policy = ScoringPolicy(consistent_share=0.5, carried_cap=1.0)
    result = grade(neuron, carried_submission(neuron, backward={"n": -0.3}), policy=policy)
    consistent = [b for b in result.blanks if b.status == "consistent"]
    assert len(consistent) == 8
    assert all(b.points == 0.5 for b in consistent)
    assert result.score == pytest.approx((10 + 8 * 0.5) / 19, abs=1e-6)


def test_points_of_the_blanks_add_up_to_the_score(neuron):
    result = grade(neuron, carried_submission(neuron, forward={"p0": -2.5}))
    total = sum(b.max_points for b in result.blanks)
    assert sum(b.points for b in result.blanks) / total == pytest.approx(result.score)


def test_kinds_can_weigh_differently(neuron):
    policy = ScoringPolicy(forward_points=0.0, backward_points=2.0)
    submission = carried_submission(neuron)
    submission["forward"]["p0"] = 99.0  # a wrong forward value is worth nothing now
    submission["forward"]["s"] = 1.0
    result = grade(neuron, submission, policy=policy)
    assert result.score == 1.0
    assert blank(result, "backward", "x0").max_points == 2.0


@pytest.mark.parametrize("kwargs", [
    {"consistent_share": 1.5}, {"carried_cap": -0.1}, {"carried_cap": math.nan},
    {"local_points": math.inf},
    {"forward_points": -1.0},
])
def test_a_policy_out_of_range_is_refused(kwargs):
    with pytest.raises(ValueError, match="must be"):
        ScoringPolicy(**kwargs)


# ---------------------------------------------------------------- gaming guard and cap


def test_zeros_everywhere_earn_no_carried_credit(neuron):
    exercise = neuron.exercise
    zeros = {"forward": {g.id: 0 for g in exercise.gates},
             "backward": dict.fromkeys(neuron.grads, 0)}
    result = grade(neuron, zeros)
    assert result.score == 0.0
    assert not any(b.status == "consistent" for b in result.blanks)
    assert "a wrong zero gradient" in blank(result, "backward", "x0").message


@pytest.mark.parametrize("name", ["sigmoid-neuron", "gate-patterns", "branching", "rule-exp",
                                  "rule-inv", "rule-scale", "neuron-expression"])
@pytest.mark.parametrize("tiny", [0.0, 0.001, -0.004])
def test_zeros_everywhere_cannot_score_above_the_cap(name, tiny):
    solution = solved(EXERCISES / f"{name}.yaml")
    exercise = solution.exercise
    zeros = {"forward": {g.id: tiny for g in exercise.gates},
             "backward": dict.fromkeys(solution.grads, tiny)}
    if "local" in exercise.ask:
        zeros["local"] = {g.id: dict.fromkeys(g.inputs, tiny) for g in exercise.gates}
    on_their_own = _right_on_their_own(solution, zeros)
    for cap in (0.0, 0.3, 0.9, None):
        score = grade(solution, zeros, policy=ScoringPolicy(carried_cap=cap)).score
        assert score <= max(cap if cap is not None else 1.0, on_their_own)
    # ... and the degenerate rule, not the cap, is what keeps it low.
    result = grade(solution, zeros)
    assert result.score <= on_their_own + 0.2, [
        b for b in result.blanks if b.status == "consistent"]


def _right_on_their_own(solution: Solution, submission: dict[str, Any]) -> float:
    result = grade(solution, submission, policy=ScoringPolicy(carried_cap=0.0))
    return result.score


@pytest.mark.parametrize("cap", [0.2, 0.5, 0.9, None])
def test_a_zero_at_the_first_node_cannot_score_above_the_cap(neuron, cap):
    # p0 = 0 feeds an add: not degenerate, and every later number still has to be
    # computed (s = 3, e = e^-3, ...): an honest slip, carried like any other.
    submission = carried_submission(neuron, forward={"p0": 0.0})
    result = grade(neuron, submission, policy=ScoringPolicy(carried_cap=cap))
    assert result.score == pytest.approx(cap if cap is not None else 18 / 19, abs=1e-6)
    assert sum(b.status == "consistent" for b in result.blanks) == 16


@pytest.mark.parametrize("cap", [0.2, 0.5, 0.9, None])
def test_a_zero_at_the_first_node_that_trivialises_the_rest_scores_low(cap):
    chained = solved(ZERO_INTO_MUL)
    submission = carried_submission(chained, forward={"a": 0.0})
    result = grade(chained, submission, policy=ScoringPolicy(carried_cap=cap))
    assert result.score == pytest.approx(1 / 9, abs=1e-6)  # dc/dc alone


def test_the_cap_never_takes_away_what_is_right_on_its_own(neuron):
    submission = carried_submission(neuron, forward={"p0": 0.0})
    result = grade(neuron, submission, policy=ScoringPolicy(carried_cap=0.0))
    assert result.score == pytest.approx(2 / 19, abs=1e-6)  # p1 and df/df
    assert all(b.points == 0.0 for b in result.blanks if b.status == "consistent")


ZERO_INTO_MUL = """\
id: zero-into-mul
title: a zero entering a mul
inputs: {x: 0.5, y: 0.3, z: 1.5}
nodes:
  - {id: a, op: add, in: [x, y]}
  - {id: b, op: mul, in: [a, z]}
  - {id: c, op: sigmoid, in: [b]}
output: c
"""


def test_a_zero_entering_a_mul_earns_nothing_downstream():
    chained = solved(ZERO_INTO_MUL)
    result = grade(chained, carried_submission(chained, forward={"a": 0.0}))
    assert blank(result, "forward", "a").status == "incorrect"
    assert blank(result, "forward", "b").status == "incorrect"  # 0·z: trivial
    assert "no carried credit" in blank(result, "forward", "b").message
    assert blank(result, "forward", "c").status == "incorrect"  # the taint follows
    assert blank(result, "backward", "c").status == "correct"
    assert blank(result, "backward", "b").status == "incorrect"  # σ'(0), from the taint
    assert blank(result, "backward", "z").status == "incorrect"  # dc/db · a = 0
    assert result.score == pytest.approx(1 / 9, abs=1e-6)  # dc/dc alone


@pytest.mark.parametrize("value", [0.0, 0.001, -0.004, 1.0, 1.001, 0.995])
def test_a_value_within_tolerance_of_zero_or_one_entering_a_mul_is_degenerate(value):
    chained = solved(ZERO_INTO_MUL)
    result = grade(chained, carried_submission(chained, forward={"a": value}))
    assert blank(result, "forward", "b").status == "incorrect"
    assert "no carried credit" in blank(result, "forward", "b").message
    assert result.score == pytest.approx(1 / 9, abs=1e-6)


@pytest.mark.parametrize("value", [0.02, -0.05, 1.05, 0.9])
def test_a_value_outside_the_tolerance_of_zero_or_one_is_carried(value):
    chained = solved(ZERO_INTO_MUL)
    result = grade(chained, carried_submission(chained, forward={"a": value}))
    assert blank(result, "forward", "b").status == "consistent"
    assert result.score == pytest.approx(8 / 9, abs=1e-6)


@pytest.mark.parametrize("tiny", [0.0, 0.001, -0.004])
def test_near_zero_gradients_earn_no_carried_credit(neuron, tiny):
    submission = carried_submission(neuron)
    submission["backward"] = {n: 1.0 if n == "f" else tiny for n in neuron.grads}
    result = grade(neuron, submission)
    assert not any(b.status == "consistent" for b in result.blanks)
    assert result.score == pytest.approx(8 / 19, abs=1e-6)  # the forward pass and df/df


def test_wrong_zeros_in_and_zero_out_earn_nothing():
    solution = solved(EXERCISES / "gate-patterns.yaml")  # a = x·y + max(z, w)
    result = grade(solution, carried_submission(solution, forward={"q": 0.0, "m": 0.001}))
    a = blank(result, "forward", "a")  # 0 + 0.001: nothing computed
    assert a.status == "incorrect"
    assert "no carried credit" in a.message
    # one wrong zero among right inputs still leaves the sum to compute
    result = grade(solution, carried_submission(solution, forward={"q": 0.0}))
    assert blank(result, "forward", "a").status == "consistent"


@pytest.mark.parametrize("value", [0.0, 0.003])
def test_a_zero_entering_exp_earns_nothing_downstream(value):
    solution = solved(EXERCISES / "rule-exp.yaml")  # f = e^(w·x)
    result = grade(solution, carried_submission(solution, forward={"p": value}))
    # e^0 = 1 and d e^p/dp = 1: nothing is left to compute at the exp gate
    assert blank(result, "forward", "f").status == "incorrect"
    assert "no carried credit" in blank(result, "forward", "f").message
    assert blank(result, "backward", "p").status == "incorrect"


@pytest.mark.parametrize("value", [1.0, 1.004])
def test_a_one_entering_inv_earns_nothing_downstream(value):
    # f = 1/(x + y) with x·y = 1.5: a typed 1 is no named mistake's value here
    solution = solved(ONE_INTO_INV)
    result = grade(solution, carried_submission(solution, forward={"s": value}))
    # 1/1 = 1 and -1/1² = -1: nothing is left to compute at the inv gate
    assert blank(result, "forward", "s").mistake is None
    assert blank(result, "forward", "f").status == "incorrect"
    assert blank(result, "backward", "s").status == "incorrect"
    assert blank(result, "backward", "x").status == "incorrect"
    assert result.score == pytest.approx(1 / 6, abs=1e-6)  # df/df alone


ONE_INTO_INV = """\
id: one-into-inv
title: 1/(x + y)
inputs: {x: 2.0, y: 0.75}
nodes:
  - {id: s, op: add, in: [x, y]}
  - {id: f, op: inv, in: [s]}
output: f
"""


@pytest.mark.parametrize(("forward", "mistake"), [
    ({"s": 1.0}, "forward-wrong-op"),  # x·y = 2·0.5: a × for the +
    ({"s": 2.0}, "forward-missing-term"),  # x alone
])
def test_a_one_a_named_mistake_explains_is_carried(forward, mistake):
    # rule-inv: f = 1/(x + y), x = 2, y = 0.5. A 1 (or 2) that a conceptual slip gives is
    # no choice made to game the inv gate: what follows from it is carried.
    solution = solved(EXERCISES / "rule-inv.yaml")
    result = grade(solution, carried_submission(solution, forward=forward))
    assert blank(result, "forward", "s").mistake == mistake
    assert {b.status for b in result.blanks if b.node != "s" or b.kind != "forward"} <= {
        "correct", "consistent"}
    assert result.score == pytest.approx(5 / 6, abs=1e-6)


@pytest.mark.parametrize("value", [1.0, 1.001, 0.0, 0.002])
def test_a_wrong_local_gradient_of_zero_or_one_earns_nothing_upstream(value):
    solution = solved(LOCAL_NEURON)
    # dp0/dx0 is w0 = 2; with 1, df/dx0 would just copy df/dp0.
    result = grade(solution, carried_submission(solution, local={("p0", "x0"): value}))
    assert blank(result, "local", "p0", "x0").status == "incorrect"
    x0 = blank(result, "backward", "x0")
    assert x0.status == "incorrect"
    assert "no carried credit" in x0.message
    assert blank(result, "backward", "w0").status == "correct"


def test_a_wrong_local_gradient_other_than_zero_or_one_is_carried():
    solution = solved(LOCAL_NEURON)
    result = grade(solution, carried_submission(solution, local={("p0", "x0"): -1.0}))
    assert blank(result, "backward", "x0").status == "consistent"


def test_a_one_entering_a_mul_or_scale_earns_nothing_downstream():
    chained = solved("""\
id: one-into-scale
title: a one entering a scale
inputs: {x: 2.0, y: 3.0}
nodes:
  - {id: a, op: add, in: [x, y]}
  - {id: b, op: scale, in: [a], a: -3}
  - {id: c, op: mul, in: [b, x]}
output: c
""")
    result = grade(chained, carried_submission(chained, forward={"a": 1.0}))
    assert blank(result, "forward", "b").status == "incorrect"
    assert blank(result, "forward", "c").status == "incorrect"


def test_a_wrong_zero_gradient_earns_nothing_upstream(neuron):
    result = grade(neuron, carried_submission(neuron, backward={"e": 0.0}))
    assert blank(result, "backward", "e").status == "incorrect"
    for node in ("n", "s", "p0", "x0", "w2"):
        assert blank(result, "backward", node).status == "incorrect", node
    assert result.score == pytest.approx(9 / 19, abs=1e-6)  # the forward pass, df/df, df/dd


def test_a_right_rounded_zero_blocks_nothing():
    # df/de = -4.5e-5: a student working to two decimals rightly types 0.00, and every
    # gradient they compute from it is theirs to keep.
    solution = solved(EXERCISES / "sigmoid-neuron-random.yaml", seed=12)
    assert 0 < abs(solution.grads["e"]) < 1e-4
    result = grade(solution, carried_submission(solution, decimals=2))
    assert blank(result, "backward", "e").status == "correct"
    assert not any(b.status == "incorrect" for b in result.blanks), result.summary()
    assert result.score == 1.0
    assert result.first_error is None
    assert not any("zero" in b.message for b in result.blanks)


def test_a_right_rounded_one_blocks_nothing():
    solution = solved("""\
id: near-one
title: a value that rounds to one entering a mul
inputs: {x: 0.996, y: 3.3}
nodes:
  - {id: a, op: scale, in: [x], a: 1}
  - {id: b, op: mul, in: [a, y], tolerance: {rel: 0.001, abs: 0.0}}
  - {id: f, op: tanh, in: [b]}
output: f
""")
    # a = 1.00 is right; b = 1.00·3.3 is not 3.2868 to 0.1 %, but it is no error.
    result = grade(solution, carried_submission(solution, forward={"a": 1.0}))
    assert blank(result, "forward", "a").status == "correct"
    assert blank(result, "forward", "b").status == "consistent"
    assert not any(b.status == "incorrect" for b in result.blanks), result.blanks
    assert result.score == 1.0


def test_a_wrong_zero_where_the_reference_is_about_zero_too_is_carried():
    solution = solved("""\
id: saturated
title: a tanh far out, scaled up
inputs: {x: 3.0, w: 2.0}
nodes:
  - {id: a, op: mul, in: [x, w]}
  - {id: t, op: tanh, in: [a]}
  - {id: f, op: scale, in: [t], a: 150}
output: f
""")
    assert 0 < solution.grads["a"] < 0.005  # 150·(1 - tanh²(6)): about zero itself
    result = grade(solution, carried_submission(solution, backward={"a": -0.004}))
    assert blank(result, "backward", "a").status == "incorrect"
    # -0.004 is no more trivial than the reference: what follows from it is carried
    assert blank(result, "backward", "x").status == "consistent"
    assert blank(result, "backward", "w").status == "consistent"


def test_a_right_zero_gradient_is_no_error():
    solution = solved(EXERCISES / "gate-patterns.yaml")  # df/dw = 0: w lost the max
    result = grade(solution, carried_submission(solution))
    assert blank(result, "backward", "w").status == "correct"
    assert result.score == 1.0


# ---------------------------------------------------------------- comparing numbers


def test_insufficient_precision_is_said_so(neuron):
    submission = carried_submission(neuron)
    submission["backward"]["x0"] = 0.4  # 0.3932 to 1 %, typed with one decimal
    result = grade(neuron, submission)
    x0 = blank(result, "backward", "x0")
    assert x0.status == "incorrect"
    assert x0.mistake == "insufficient-precision"
    assert x0.message.startswith("insufficient precision")


@pytest.mark.parametrize(("node", "value"), [("d", -1.0), ("e", -1.0), ("x1", -1.0)])
def test_a_plain_wrong_integer_is_incorrect_not_imprecise(neuron, node, value):
    submission = carried_submission(neuron)
    submission["backward"][node] = value  # -0.53, -0.53, -0.59: one wrong digit
    found = blank(grade(neuron, submission), "backward", node)
    assert found.status == "incorrect"
    assert found.mistake != "insufficient-precision"
    assert "precision" not in found.message


def test_a_value_following_from_rounded_inputs_is_consistent(neuron):
    # df/dp0 = 0.20 is right (0.1966 to 2 decimals); 0.20 · 2 = 0.40 is not within 1 % of
    # 0.3932, but it is exactly what the student's own numbers give.
    submission = carried_submission(neuron)
    submission["backward"].update(p0=0.20, x0=0.40)
    result = grade(neuron, submission)
    x0 = blank(result, "backward", "x0")
    assert x0.status == "consistent"
    assert "rounded" in x0.message
    assert result.score == 1.0  # rounding is not an error: no cap, no first error
    assert result.first_error is None


def test_near_zero_references_accept_a_typed_zero():
    solution = solved("""\
id: near-zero
title: a gradient that cancels to (almost) zero
inputs: {x: 0.1, y: 0.2}
nodes:
  - {id: a, op: add, in: [x, y]}
  - {id: b, op: add_const, in: [a], c: -0.3}
  - {id: f, op: mul, in: [b, b]}
output: f
tolerance: {rel: 0.0, abs: 0.0}
""")
    assert solution.values["b"] != 0.0  # 0.1 + 0.2 - 0.3 in floats
    result = grade(solution, {"forward": {"a": 0.3, "b": 0.0, "f": 0.0},
                              "backward": {"f": 1.0, "b": 0.0, "a": 0.0, "x": 0.0, "y": 0.0}})
    assert result.score == 1.0


def test_a_node_tolerance_overrides_the_exercise_tolerance():
    solution = solved("""\
id: node-tolerance
title: sigfigs on one node
inputs: {x: 0.3932}
nodes:
  - {id: a, op: scale, in: [x], a: 1, tolerance: {sigfigs: 3}}
  - {id: f, op: scale, in: [a], a: 1}
output: f
""")
    result = grade(solution, {"forward": {"a": 0.39, "f": 0.39}})
    assert blank(result, "forward", "a").status == "incorrect"
    assert blank(result, "forward", "f").status == "correct"


TIE = """\
id: tie
title: a max tie
inputs: {x: 2.0, y: 2.0, z: 3.0}
nodes:
  - {id: m, op: max, in: [x, y]}
  - {id: f, op: mul, in: [m, z]}
output: f
ask: [forward, backward, local]
"""


@pytest.mark.parametrize("value", [0.0, 0.75, 1.5, 3.0, 3.004])
def test_at_a_tie_any_valid_subgradient_is_correct(value):
    solution = solved(TIE)
    assert solution.grad_ranges["x"] == (0.0, 3.0)
    result = grade(solution, {"backward": {"x": value, "y": 3.0 - value},
                              "local": {"m": {"x": value / 3.0, "y": 1.0 - value / 3.0}}})
    assert blank(result, "backward", "x").status == "correct"
    assert blank(result, "local", "m", "x").status == "correct"


@pytest.mark.parametrize("value", [-0.5, 3.5])
def test_at_a_tie_a_value_outside_the_range_is_incorrect(value):
    result = grade(solved(TIE), {"backward": {"x": value}})
    assert blank(result, "backward", "x").status == "incorrect"


TIE_THEN_SLIP = """\
id: tie-then-slip
title: a max tie, and a slip the tie's gradient is computed from
inputs: {a: 2.0, z: 3.0}
nodes:
  - {id: x, op: scale, in: [a], a: 1}
  - {id: y, op: add_const, in: [a], c: 0}
  - {id: m, op: max, in: [x, y]}
  - {id: q, op: add_const, in: [z], c: 1}
  - {id: f, op: mul, in: [m, q]}
output: f
"""


@pytest.mark.parametrize("local", [False, True])
def test_carried_credit_survives_a_tie(local):
    solution = solved(TIE_THEN_SLIP + ("ask: [forward, backward, local]\n" if local else ""))
    assert solution.grad_ranges["x"] == (0.0, 4.0)
    result = grade(solution, carried_submission(solution, forward={"q": 3.0}))
    # df/dx = 3: inside the tie's range, and what the student's df/dm = 3 gives; df/da
    # = df/dx + df/dy = 3 then follows from it.
    assert blank(result, "backward", "x").status == "correct"
    assert blank(result, "backward", "a").status == "consistent"
    statuses = {b.status for b in result.blanks if b.ref != blank(result, "forward", "q").ref}
    assert statuses <= {"correct", "consistent"}, result.blanks
    assert result.first_error is not None
    assert ("backward", "a") in {(b.kind, b.node) for b in result.first_error.propagated_into}


@pytest.mark.parametrize(("op", "inside", "outside"), [
    ("relu", [0.0, 0.4, 2.0], [-0.5, 2.5]),
    ("abs", [-2.0, 0.0, 1.0, 2.0], [-2.5, 2.5]),
])
def test_at_a_kink_any_valid_subgradient_is_correct(op, inside, outside):
    solution = solved(f"""\
id: kink
title: a kink at 0
inputs: {{x: 1.0, y: -1.0}}
nodes:
  - {{id: s, op: add, in: [x, y]}}
  - {{id: r, op: {op}, in: [s]}}
  - {{id: f, op: scale, in: [r], a: 2}}
output: f
""")
    for value in inside:
        assert blank(grade(solution, {"backward": {"s": value}}), "backward", "s").status == (
            "correct"), value
    for value in outside:
        assert blank(grade(solution, {"backward": {"s": value}}), "backward", "s").status == (
            "incorrect"), value


def test_huge_numbers_that_overflow_are_never_consistent():
    solution = solved("""\
id: overflow
title: two branches that cancel
inputs: {x: 1.0, k: 3.0, m: -3.0}
nodes:
  - {id: a, op: mul, in: [x, k]}
  - {id: b, op: mul, in: [x, m]}
  - {id: f, op: add, in: [a, b]}
output: f
""")
    # 3·1e308 + (-3)·1e308 is inf - inf: no number follows from that
    result = grade(solution, {"backward": {"a": 1e308, "b": 1e308, "x": 5.0}})
    assert blank(result, "backward", "x").status == "incorrect"


# ---------------------------------------------------------------- format errors


@pytest.mark.parametrize(("raw", "says"), [
    (math.nan, "NaN"), (math.inf, "infinity"), (-math.inf, "infinity"), ("0.39", "text"),
    (True, "true/false"), (None, "empty"), ("", "empty"), ("  ", "empty"), ([0.39], "array"),
    ({"v": 1}, "object"), (10**400, "too large"),
])
def test_a_blank_without_a_number_is_a_format_error_not_a_grade(neuron, raw, says):
    submission = carried_submission(neuron)
    submission["backward"]["x0"] = raw
    result = grade(neuron, submission)
    x0 = blank(result, "backward", "x0")
    assert x0.status == "invalid"
    assert x0.points == 0.0
    assert says in x0.message
    assert x0.message.startswith("format error: ")
    assert result.has_format_errors
    assert result.format_errors == (x0,)
    assert result.first_error is None
    assert "nothing was graded" in result.summary()


def test_integers_are_numbers(neuron):
    result = grade(neuron, {"forward": {"p0": -2, "p1": 6}})
    assert blank(result, "forward", "p0").status == "correct"
    assert not result.has_format_errors


# ---------------------------------------------------------------- parsing submissions


def test_parse_submission_returns_raw_values_by_blank(neuron):
    exercise = load_exercise(LOCAL_NEURON)
    parsed = parse_submission({"forward": {"p0": "x"}, "local": {"p0": {"w0": -1.0}}},
                              exercise)
    assert parsed == Submission(forward={"p0": "x"}, backward={},
                                local={("p0", "w0"): -1.0})
    assert parse_submission(parsed, exercise) == parsed


def test_parse_submission_lists_every_field_error(neuron):
    with pytest.raises(SubmissionError) as caught:
        parse_submission({
            "forward": {"p9": 1.0, "x0": 2.0, "p0": 1.0},
            "backward": {"zz": 0.1},
            "local": {"p0": {"x0": 1.0}},
            "extra": 1,
        }, neuron.exercise)
    errors = {(e.loc, e.message) for e in caught.value.errors}
    assert errors == {
        (("extra",), "unknown field: a submission has forward, backward and local"),
        (("local",), "this exercise does not ask for local blanks "
                     "(it asks for: forward, backward)"),
        (("forward", "p9"), "no gate 'p9' in this exercise"),
        (("forward", "x0"), "'x0' is an input: its value is given, not asked"),
        (("backward", "zz"), "no node 'zz' in this exercise"),
    }


def test_parse_submission_rejects_local_blanks_that_are_not_edges():
    exercise = load_exercise(LOCAL_NEURON)
    with pytest.raises(SubmissionError) as caught:
        parse_submission({"local": {"p0": {"x1": 1.0, "w0": 2.0}, "x0": {"w0": 1.0},
                                    "nope": {}}}, exercise)
    errors = {str(e) for e in caught.value.errors}
    assert errors == {
        "local.p0.x1: 'x1' is not an input of gate 'p0' (its inputs: w0, x0)",
        "local.x0: 'x0' is an input: only gates have local gradients",
        "local.nope: no gate 'nope' in this exercise",
    }
    pointers = {e.as_dict()["pointer"] for e in caught.value.errors}
    assert "/local/p0/x1" in pointers


@pytest.mark.parametrize(("data", "where", "says"), [
    ([1, 2], (), "a submission is a JSON object"),
    ("text", (), "a submission is a JSON object"),
    ({"forward": [1.0]}, ("forward",), "must be an object: gate id -> number"),
    ({"backward": 3}, ("backward",), "must be an object: node id -> number"),
    ({"local": {"p0": 1.0}}, ("local", "p0"), "must be an object: input id"),
])
def test_parse_submission_rejects_wrong_shapes(data, where, says):
    exercise = load_exercise(LOCAL_NEURON)
    with pytest.raises(SubmissionError) as caught:
        parse_submission(data, exercise)
    assert any(e.loc == where and says in e.message for e in caught.value.errors), (
        caught.value.errors)


def test_grade_parses_a_mapping_and_raises_on_a_bad_one(neuron):
    with pytest.raises(SubmissionError, match="no gate 'p9'"):
        grade(neuron, {"forward": {"p9": 1.0}})
    assert grade(neuron, {}).score == 0.0


def test_an_empty_section_for_a_kind_not_asked_is_harmless(neuron):
    parse_submission({"forward": {}, "backward": {}, "local": {}}, neuron.exercise)


# ---------------------------------------------------------------- messages


def _numbers_in(value: float) -> list[str]:
    """The ways a reference number could be written into a message."""
    shown = {repr(value), fmt(value), f"{value:.3g}", f"{value:.4f}", f"{value:.3f}"}
    # Small integers (0, 1, 2, -1) appear in rules such as "-1/x²": look for the
    # written-out decimals only.
    return [s for s in shown if len(s.lstrip("-")) > 2 or ("." in s and s.strip("-0."))]


def test_messages_never_contain_the_reference_number_of_a_wrong_blank(neuron):
    solution = solved(LOCAL_NEURON)
    wrong_values = [0.0, 1.0, -1.0, 0.4, 7.5, -0.2, 0.5]
    for value in wrong_values:
        submission = carried_submission(solution)
        for section in ("forward", "backward"):
            for node in submission[section]:
                submission[section][node] = value
        for gate in submission["local"].values():
            for name in gate:
                gate[name] = value
        result = grade(solution, submission)
        for b in result.blanks:
            if b.status in ("incorrect", "consistent"):
                if b.kind == "forward":
                    reference = solution.values[b.node]
                elif b.kind == "backward":
                    reference = solution.grads[b.node]
                else:
                    reference = solution.local_gradients(b.node)[b.input]
                for written in _numbers_in(reference):
                    assert written not in b.message, (b, written)
