"""Every diagnosed mistake: detected on a purpose-made wrong submission, never raised
on a right one."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine import Solution, draw_variant, load_exercise, solve
from grader.scoring import ScoringPolicy, grade
from grader.scoring.mistakes import MISTAKES, Mistake, WrongBlank, diagnose

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
NAMED = ("branch-not-summed", "no-upstream", "mul-not-swapped", "max-misrouted",
         "sigmoid-derivative", "inv-sign", "inv-derivative", "exp-derivative",
         "scale-factor", "sign-flip", "forward-as-gradient", "local-at-wrong-point",
         "log-derivative", "div-derivative", "wrong-op-rule", "percent", "swapped-blanks",
         "forward-wrong-op", "forward-missing-term")

ADD_CONST = """\
id: add-const-3
title: c + x with c = 3
inputs: {x: 2.0, y: -1.5}
nodes:
  - {id: p, op: mul, in: [x, y]}
  - {id: f, op: add_const, in: [p], c: 3}
output: f
"""


SQUARE = """\
id: square
title: x·x, then scaled
inputs: {x: 3.0, w: 0.5}
nodes:
  - {id: q, op: mul, in: [x, x]}
  - {id: f, op: mul, in: [q, w]}
output: f
"""
# f = ln(x/y)·y: a ÷ and an ln gate (x = 3, y = 2: q = 1.5, l = ln 1.5 = 0.405)
DIV_LOG = """\
id: div-log
title: ln(x/y)·y
inputs: {x: 3.0, y: 2.0}
nodes:
  - {id: q, op: div, in: [x, y]}
  - {id: l, op: log, in: [q]}
  - {id: f, op: mul, in: [l, y]}
output: f
"""
# f = 1 + max(x, y) · z: a ReLU-free max with a branch (x feeds the max and the product)
MAX_BRANCH = """\
id: max-branch
title: max(x, y)·x + z
inputs: {x: 3.0, y: 1.0, z: 0.5}
nodes:
  - {id: m, op: max, in: [x, y]}
  - {id: p, op: mul, in: [m, x]}
  - {id: f, op: add, in: [p, z]}
output: f
"""
MADE_HERE = {"add-const-3": ADD_CONST, "square": SQUARE, "div-log": DIV_LOG,
             "max-branch": MAX_BRANCH}


def carried_submission(solution: Solution, **slips) -> dict:
    from test_scoring import carried_submission as carried

    return carried(solution, **slips)


def solved(name: str, *, local: bool = False) -> Solution:
    text = MADE_HERE.get(name) or (EXERCISES / f"{name}.yaml").read_text()
    if local:
        text += "ask: [forward, backward, local]\n"
    return solve(draw_variant(load_exercise(text)))


def reference(solution: Solution) -> dict:
    exercise = solution.exercise
    submission: dict = {"forward": {g.id: solution.values[g.id] for g in exercise.gates},
                        "backward": dict(solution.grads)}
    if "local" in exercise.ask:
        submission["local"] = {g.id: solution.local_gradients(g.id) for g in exercise.gates}
    return submission


# (exercise, node, wrong value, expected code): the right df/d(node) and why it is wrong
BACKWARD_CASES = [
    ("branching", "x", -2.0, "branch-not-summed"),  # only via a (x·y): -2; right: -7
    ("branching", "x", -6.0, "branch-not-summed"),  # only via b (x + y)
    ("branching", "x", 1.0, "branch-not-summed"),  # only via c (max)
    ("branching", "x", -8.0, "branch-not-summed"),  # via a and b, not c
    ("branching", "x", -5.0, "branch-not-summed"),  # via b and c, not a
    ("branching", "y", -2.0, "max-misrouted"),  # y lost the max, and got gradient
    ("square", "x", 1.5, "branch-not-summed"),  # one use of x in x·x
    ("sigmoid-neuron", "x0", 2.0, "no-upstream"),  # w0 alone; right: 0.1966·2
    ("sigmoid-neuron", "x0", -0.1966, "mul-not-swapped"),  # 0.1966·x0
    ("gate-patterns", "w", 2.0, "max-misrouted"),  # w lost the max: right is 0
    ("gate-patterns", "w", 1.0, "max-misrouted"),  # split between z and w
    ("gate-patterns", "z", 0.0, "max-misrouted"),  # the winner got nothing
    ("sigmoid-neuron-one-gate", "s", 0.7311, "sigmoid-derivative"),  # σ(s); right 0.1966
    ("sigmoid-neuron-one-gate", "s", 1.0, "sigmoid-derivative"),  # s itself
    ("rule-inv", "s", 0.16, "inv-sign"),  # +1/s²; right -0.16
    ("rule-inv", "s", -0.4, "inv-derivative"),  # -1/s
    ("rule-exp", "p", -2.0, "exp-derivative"),  # p itself; right e^-2
    ("rule-exp", "p", 1.0, "exp-derivative"),
    ("rule-scale", "s", 1.0, "scale-factor"),  # forgot a = -2
    ("add-const-3", "p", 3.0, "scale-factor"),  # multiplied by c; right 1
    ("sigmoid-neuron", "x0", -0.3932, "sign-flip"),
    ("sigmoid-neuron", "e", 0.5344, "sign-flip"),
    ("sigmoid-neuron", "d", 0.5344, "inv-sign"),  # at an inv gate, the specific rule
    ("sigmoid-neuron", "p0", -2.0, "forward-as-gradient"),
    ("sigmoid-neuron", "f", 0.7311, "forward-as-gradient"),
    ("sigmoid-neuron", "x0", 39.32, "percent"),  # 0.3932 as a percentage
    ("sigmoid-neuron", "x0", 39.0, "percent"),
    ("div-log", "q", 0.81, "log-derivative"),  # df/dl · ln q; right df/dl / q = 4/3
    ("div-log", "q", 3.0, "log-derivative"),  # df/dl · q
    ("div-log", "q", 4.93, "local-at-wrong-point"),  # df/dl · 1/l: ln' at the output
    ("div-log", "x", 2.67, "wrong-op-rule"),  # df/dq · y: ÷ taken as ×; right 0.67
    ("rule-exp", "p", 1.15, "local-at-wrong-point"),  # e^(df/df) · 1 = e^1... at upstream
    ("max-branch", "x", 3.0, "branch-not-summed"),  # via p's x slot only (m·1 = 3)
    ("max-branch", "y", 3.0, "max-misrouted"),
]

# (exercise, gate, input, wrong value, expected code): the right d gate / d input
LOCAL_CASES = [
    ("square", "q", "x", 3.0, "branch-not-summed"),  # d(x·x)/dx counted once
    ("sigmoid-neuron", "p0", "x0", -1.0, "mul-not-swapped"),  # x0 itself; right w0 = 2
    ("gate-patterns", "m", "w", 1.0, "max-misrouted"),
    ("gate-patterns", "m", "z", 0.5, "max-misrouted"),
    ("sigmoid-neuron-one-gate", "f", "s", 0.7311, "sigmoid-derivative"),
    ("sigmoid-neuron", "f", "d", 0.5344, "inv-sign"),
    ("sigmoid-neuron", "f", "d", -0.7311, "inv-derivative"),
    ("sigmoid-neuron", "e", "n", -1.0, "exp-derivative"),
    ("sigmoid-neuron", "n", "s", 1.0, "scale-factor"),
    ("sigmoid-neuron", "p0", "w0", 1.0, "sign-flip"),  # -1 flipped (x0 is right: not "+")
    ("sigmoid-neuron", "d", "e", 1.3679, "forward-as-gradient"),
    ("sigmoid-neuron-one-gate", "f", "s", 0.2689, "sigmoid-derivative"),  # 1 - σ
    ("sigmoid-neuron-one-gate", "f", "s", 0.5344, "sigmoid-derivative"),  # σ²
    ("sigmoid-neuron-one-gate", "f", "s", 0.2187, "sigmoid-derivative"),  # σ′ at σ(s)
    ("sigmoid-neuron", "e", "n", 1.4447, "local-at-wrong-point"),  # e^e: at the output
    ("sigmoid-neuron", "f", "d", -1.0, "local-at-wrong-point"),  # -1/f²... at f = 0.73
    ("div-log", "l", "q", 0.4055, "log-derivative"),  # ln q
    ("div-log", "l", "q", 1.5, "log-derivative"),  # q
    ("div-log", "l", "q", 2.466, "local-at-wrong-point"),  # 1/l: at the output
    ("div-log", "q", "y", -0.25, "div-derivative"),  # -1/y² without x
    ("div-log", "q", "y", 0.75, "div-derivative"),  # x/y²
    ("div-log", "q", "y", -1.5, "div-derivative"),  # -x/y: the square left out
    ("div-log", "q", "y", -3.0, "div-derivative"),  # -x: not divided by y²
    ("div-log", "q", "x", 2.0, "div-derivative"),  # y: the quotient rule's numerator
    ("sigmoid-neuron", "p0", "x0", 1.0, "wrong-op-rule"),  # × taken as +: 1
    ("gate-patterns", "a", "q", 2.0, "wrong-op-rule"),  # m: + taken as ×
    ("sigmoid-neuron", "p0", "x0", 100.0 * 2.0, "percent"),
]

# (exercise, gate, wrong value, expected code): a wrong forward value, with everything
# after it computed from it
FORWARD_CASES = [
    ("gate-patterns", "m", -1.0, "forward-wrong-op"),  # min(z, w) for max(z, w)
    ("branching", "a", 1.0, "forward-wrong-op"),  # x + y for x·y
    ("sigmoid-neuron", "d", 1.0, "forward-missing-term"),  # 1 + e without e
    ("sigmoid-neuron", "d", 0.3679, "forward-missing-term"),  # without the 1
    ("sigmoid-neuron", "s", 4.0, "forward-missing-term"),  # without w2
    ("sigmoid-neuron", "p1", -6.0, "sign-flip"),
    ("rule-inv", "s", 1.0, "forward-wrong-op"),  # x·y for x + y
    ("div-log", "q", 0.6667, "forward-wrong-op"),  # y/x: the other way round
]


@pytest.mark.parametrize(("name", "node", "value", "code"), BACKWARD_CASES)
def test_each_mistake_is_detected_in_a_gradient(name, node, value, code):
    solution = solved(name)
    submission = reference(solution)
    submission["backward"][node] = value
    result = grade(solution, submission)
    found = next(b for b in result.blanks if (b.kind, b.node) == ("backward", node))
    assert (found.status, found.mistake) == ("incorrect", code), found.message
    others = [b for b in result.blanks if b is not found]
    assert all(b.mistake is None for b in others)


@pytest.mark.parametrize(("name", "gate", "input_", "value", "code"), LOCAL_CASES)
def test_each_mistake_is_detected_in_a_local_gradient(name, gate, input_, value, code):
    solution = solved(name, local=True)
    submission = reference(solution)
    submission["local"][gate][input_] = value
    result = grade(solution, submission)
    found = next(b for b in result.blanks if (b.kind, b.node, b.input) == ("local", gate, input_))
    assert (found.status, found.mistake) == ("incorrect", code), found.message


@pytest.mark.parametrize(("name", "gate", "value", "code"), FORWARD_CASES)
def test_each_mistake_is_detected_in_a_forward_value(name, gate, value, code):
    solution = solved(name)
    result = grade(solution, carried_submission(solution, forward={gate: value}))
    found = next(b for b in result.blanks if (b.kind, b.node) == ("forward", gate))
    assert (found.status, found.mistake) == ("incorrect", code), found.message
    others = [b for b in result.blanks if b is not found]
    assert all(b.mistake is None for b in others), [b for b in others if b.mistake]
    assert {b.status for b in others} <= {"correct", "consistent"}


@pytest.mark.parametrize(("name", "kind", "pair"), [
    ("sigmoid-neuron", "forward", ("p0", "p1")),
    ("sigmoid-neuron", "backward", ("w0", "x1")),
    ("div-log", "backward", ("x", "y")),
])
def test_two_blanks_holding_each_others_values_are_swapped(name, kind, pair):
    solution = solved(name)
    submission = reference(solution)
    a, b = pair
    submission[kind][a], submission[kind][b] = submission[kind][b], submission[kind][a]
    result = grade(solution, submission)
    found = [b for b in result.blanks if b.kind == kind and b.node in pair]
    assert [f.mistake for f in found] == ["swapped-blanks"] * 2, found
    label = (lambda node: node) if kind == "forward" else (lambda node: f"df/d{node}")
    assert label(b) in next(f for f in found if f.node == a).message
    assert all(x.mistake is None for x in result.blanks if x not in found)


@pytest.mark.parametrize(("values", "codes"), [
    ({"x": 2.0, "y": 3.0}, ["wrong-op-rule"] * 2),  # y and x: ÷ taken as ×
    ({"x": 2.0, "y": -3.0}, ["div-derivative"] * 2),  # y and -x: numerators alone
])
def test_a_rule_that_explains_every_blank_of_a_gate_names_them(values, codes):
    # d(x/y)/dx typed as y fits two rules: the one that explains d(x/y)/dy too wins
    solution = solved("div-log", local=True)
    submission = reference(solution)
    submission["local"]["q"].update(values)
    result = grade(solution, submission)
    assert [b.mistake for b in result.blanks if b.kind == "local" and b.node == "q"] == codes


def test_the_two_inputs_of_a_mul_exchanged_are_its_switcher_forgotten():
    solution = solved("sigmoid-neuron")
    submission = reference(solution)
    backward = submission["backward"]
    backward["w0"], backward["x0"] = backward["x0"], backward["w0"]
    result = grade(solution, submission)
    assert [b.mistake for b in result.blanks if b.node in ("w0", "x0")] == [
        "mul-not-swapped"] * 2


@pytest.mark.parametrize("name", sorted({case[0] for case in BACKWARD_CASES + LOCAL_CASES}))
def test_no_mistake_is_raised_on_a_right_submission(name):
    for local in (False, True):
        solution = solved(name, local=local)
        result = grade(solution, reference(solution))
        assert result.score == 1.0
        assert all(b.mistake is None for b in result.blanks)


def test_a_right_answer_that_equals_a_mistakes_value_is_right():
    # At c + x with c = 1, "multiplied by c" gives the right answer; at the output's
    # only consumer the upstream gradient is 1, so "no upstream" is right too.
    solution = solve(draw_variant(load_exercise(EXERCISES / "rule-add-const.yaml")))
    submission = reference(solution)
    submission["backward"]["p"] = 1.0
    result = grade(solution, submission)
    assert result.score == 1.0
    assert all(b.mistake is None for b in result.blanks)


def test_every_named_mistake_is_registered_once():
    codes = [m.code for m in MISTAKES]
    assert len(codes) == len(set(codes))
    assert set(NAMED) <= set(codes)
    detected = {case[-1] for case in BACKWARD_CASES + LOCAL_CASES + FORWARD_CASES}
    assert detected | {"swapped-blanks"} == set(codes)


def test_specific_rules_are_tried_before_generic_ones():
    codes = [m.code for m in MISTAKES]
    for specific in ("inv-sign", "scale-factor", "mul-not-swapped"):
        assert codes.index(specific) < codes.index("sign-flip")
    assert codes.index("sigmoid-derivative") < codes.index("forward-as-gradient")


def test_a_consistent_blank_is_not_diagnosed():
    solution = solved("sigmoid-neuron")
    submission = reference(solution)
    submission["backward"]["p0"] = 0.5
    submission["backward"]["x0"] = 0.5 * 2.0  # right, given their df/dp0
    result = grade(solution, submission)
    x0 = next(b for b in result.blanks if (b.kind, b.node) == ("backward", "x0"))
    assert (x0.status, x0.mistake) == ("consistent", None)


def test_a_diagnosis_uses_the_students_own_upstream_gradient():
    solution = solved("sigmoid-neuron")  # w0 = 2, x0 = -1
    submission = reference(solution)
    submission["backward"]["p0"] = 0.5  # a slip, then two mistakes made with it:
    submission["backward"]["w0"] = 0.5  # df/dp0 · x0 = -0.5, with the sign flipped
    submission["backward"]["x0"] = -0.5  # df/dp0 · x0: x0's own value, not w0's
    result = grade(solution, submission)
    by_node = {b.node: b for b in result.blanks if b.kind == "backward"}
    assert by_node["w0"].mistake == "sign-flip"
    assert by_node["x0"].mistake == "mul-not-swapped"


def test_a_mistake_can_be_added_through_the_policy():
    def halved(b: WrongBlank) -> str | None:
        return "half of it" if b.fits(b.expected / 2) else None

    solution = solved("sigmoid-neuron")
    submission = reference(solution)
    submission["backward"]["x0"] = 0.3932 / 2
    policy = ScoringPolicy(mistakes=(Mistake("halved", halved), *MISTAKES))
    found = next(b for b in grade(solution, submission, policy=policy).blanks
                 if (b.kind, b.node) == ("backward", "x0"))
    assert (found.mistake, found.message) == ("halved", "half of it")


def test_a_hypothesis_that_cannot_be_evaluated_does_not_match():
    def broken(_b: WrongBlank) -> str | None:
        raise ZeroDivisionError

    blank = WrongBlank(kind="backward", node="x", input=None, output="f", value=1.0,
                       forward_value=0.0, expected=2.0, edges=(), fits=lambda v: v == 1.0)
    assert diagnose(blank, (Mistake("broken", broken),)) is None
    assert diagnose(blank, (Mistake("broken", broken), *MISTAKES)) is None


def test_a_hypothesis_predicting_an_overflow_never_matches():
    def infinite(b: WrongBlank) -> str | None:
        return "overflowed" if b.fits(math.inf) or b.fits(math.nan) else None

    solution = solved("sigmoid-neuron")
    submission = reference(solution)
    submission["backward"]["x0"] = 1e308
    policy = ScoringPolicy(mistakes=(Mistake("infinite", infinite), *MISTAKES))
    found = next(b for b in grade(solution, submission, policy=policy).blanks
                 if (b.kind, b.node) == ("backward", "x0"))
    assert found.mistake != "infinite"


def diagnosed(name: str, node: str, value: float) -> tuple[str | None, str]:
    solution = solved(name)
    submission = reference(solution)
    submission["backward"][node] = value
    found = next(b for b in grade(solution, submission).blanks
                 if (b.kind, b.node) == ("backward", node))
    return found.mistake, found.message


def test_branch_not_summed_names_the_branches_left_out():
    # df/dx = -7 along a (-2), b (-6) and c (+1): -8 leaves out c.
    assert diagnosed("branching", "x", -8.0) == ("branch-not-summed", (
        "x feeds 3 branches (a, b, c): df/dx is the sum of what comes back along all of "
        "them; this leaves out c"))
    assert diagnosed("branching", "x", -2.0)[1].endswith("this leaves out b and c")


def test_a_gate_using_its_input_twice_is_said_so():
    mistake, message = diagnosed("square", "x", 1.5)  # w·x: one use of x in q = x·x
    assert mistake == "branch-not-summed"
    assert message == ("q uses x twice: df/dx is the sum of what comes back through each "
                       "use, not only one")
    solution = solved("square", local=True)
    submission = reference(solution)
    submission["local"]["q"]["x"] = 3.0  # x: one use of x in x·x
    found = next(b for b in grade(solution, submission).blanks
                 if (b.kind, b.node, b.input) == ("local", "q", "x"))
    assert (found.mistake, found.message) == ("branch-not-summed", (
        "q uses x twice: its local gradient with respect to x is the sum over each use "
        "(the product rule), not one use alone"))


def test_max_misrouted_says_which_input_won_at_the_students_values():
    # y = -2 lost max(x, y) at c, yet got gradient from it
    mistake, message = diagnosed("branching", "y", -2.0)
    assert mistake == "max-misrouted"
    assert message == ("y is not the largest input of c (max: gradient router): no gradient "
                       "flows back to it through c")
    # z = 2 won max(z, w) at m, and got nothing
    mistake, message = diagnosed("gate-patterns", "z", 0.0)
    assert mistake == "max-misrouted"
    assert message == ("z is the largest input of m (max: gradient router): the whole "
                       "upstream gradient flows back to it through m")
    mistake, message = diagnosed("gate-patterns", "z", 1.0)  # split between z and w
    assert mistake == "max-misrouted"
    assert message == ("max does not split the upstream gradient between its inputs "
                       "(gradient router): it all flows back to the largest one (at m)")


def test_a_wrong_zero_is_only_diagnosed_by_a_rule_that_predicts_zero():
    # Typed zeros everywhere: a zero forward value makes "forward-as-gradient" (and any
    # product with it) predict 0 too, which proves nothing about the mistake made.
    solution = solved("sigmoid-neuron", local=True)
    exercise = solution.exercise
    zeros = {"forward": {g.id: 0.0 for g in exercise.gates},
             "backward": dict.fromkeys(solution.grads, 0.0),
             "local": {g.id: dict.fromkeys(g.inputs, 0.0) for g in exercise.gates}}
    result = grade(solution, zeros)
    assert [b for b in result.blanks if b.mistake is not None] == []
    # max routing does predict a zero, by rule: the winner of max(z, w) got nothing; so
    # does a branch left out when the branches kept carry nothing by rule
    assert [m.code for m in MISTAKES if m.explains_zero] == ["branch-not-summed",
                                                             "max-misrouted"]


def test_every_mistake_has_a_short_name_in_both_languages():
    from grader.i18n import use_language
    from grader.scoring.mistakes import MISTAKES, mistake_name

    for mistake in MISTAKES:
        english = mistake_name(mistake.code)
        with use_language("pt_BR"):
            portuguese = mistake_name(mistake.code)
        assert english != mistake.code and portuguese != english, mistake.code
    assert mistake_name("no-such-code") == "no-such-code"
