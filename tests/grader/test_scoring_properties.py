"""Properties of grade() over random exercises (hypothesis).

* a submission built from the reference solution always scores 1 (kinks included);
* perturbing exactly one forward value, and computing every later blank from it, makes
  exactly that blank incorrect and every blank downstream correct or consistent;
* the same for one gradient, and the blanks upstream of it, and for one local gradient
  (kinks, ties, exp and inv included);
* a student who rounds every number to two decimals and computes on with the rounded
  numbers makes no error, on random exercises and on every seed of the random neuron;
* whatever is typed, grading does not fail, the score is within [0, 1], and no message
  of a wrong blank holds its reference number.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from unittest.mock import patch

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from test_scoring import carried_submission

from engine import ExerciseError, Solution, Tolerance, draw_variant, load_exercise, solve
from engine.explain import fmt
from engine.ops import OPS, local_gradients
from grader.scoring import DEGENERATE_FEEDS, GradeResult, grade
from grader.scoring.grading import Grading
from grader.scoring.tolerance import allowance_for, is_close_relabs, is_close_to_range

DEFAULT = allowance_for(Tolerance().resolved())
EXERCISES = Path(__file__).resolve().parents[2] / "exercises"

SMOOTH = ("add", "sub", "mul", "scale", "add_const", "neg", "sigmoid", "tanh", "sin", "cos")
KINKED = ("max", "min", "relu", "abs")
# exp and inv grow fast and inv has a pole: they read only bounded nodes (below).
STEEP = ("exp", "inv")
ARITY = {"add": 2, "sub": 2, "mul": 2, "max": 2, "min": 2}
PARAMS = {"scale": "a", "add_const": "c"}

SETTINGS = settings(max_examples=150, deadline=None)


@st.composite
def exercise_texts(draw: st.DrawFn, ops: tuple[str, ...], asks_local: bool | None = None) -> str:
    """A random small exercise as YAML: fixed inputs, gates reading earlier nodes, and a
    last gate adding up every node nothing else reads."""
    count = draw(st.integers(2, 4))
    value = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))
    names = [f"x{i}" for i in range(count)]
    lines = ["id: random", "title: random", "inputs:"]
    lines += [f"  {n}: {draw(value)!r}" for n in names]
    lines.append("nodes:")
    read: set[str] = set()
    bounded = list(names)  # inputs, and outputs of ops that stay within [-1, 1]
    for k in range(draw(st.integers(1, 7))):
        op = draw(st.sampled_from(ops))
        pool = bounded if op in STEEP else names
        ins = [draw(st.sampled_from(pool)) for _ in range(ARITY.get(op, 1))]
        extra = ""
        if op in PARAMS:
            extra = f", {PARAMS[op]}: {draw(st.sampled_from([-2.0, -0.5, 0.5, 1.5, 3.0]))}"
        lines.append(f"  - {{id: g{k}, op: {op}, in: [{', '.join(ins)}]{extra}}}")
        read.update(ins)
        names.append(f"g{k}")
        if op in ("sigmoid", "tanh", "sin", "cos"):
            bounded.append(f"g{k}")
    sinks = [n for n in names if n not in read] or [names[-1]]
    if len(sinks) == 1:
        sinks *= 2
    lines.append(f"  - {{id: out, op: add, in: [{', '.join(sinks)}]}}")
    lines.append("output: out")
    local = draw(st.booleans()) if asks_local is None else asks_local
    lines.append(f"ask: [forward, backward{', local' if local else ''}]")
    return "\n".join(lines) + "\n"


def solved(text: str) -> Solution:
    """The exercise solved; an inv of an input drawn as 0 is no exercise (assume)."""
    try:
        return solve(draw_variant(load_exercise(text)))
    except ExerciseError:
        assume(False)
        raise


def own_work(solution: Solution, **slips: Any) -> dict[str, Any]:
    """`carried_submission`, when the student's own numbers can be computed at all (an
    inv of their 0, an exp of their huge number cannot)."""
    try:
        submission = carried_submission(solution, **slips)
    except (ArithmeticError, ValueError):
        assume(False)
        raise
    numbers = [*submission["forward"].values(), *submission["backward"].values(),
               *(v for gate in submission.get("local", {}).values() for v in gate.values())]
    assume(all(math.isfinite(v) and abs(v) < 1e6 for v in numbers))
    return submission


def perturbed(value: float, direction: int, valid: tuple[float, float] | None = None) -> float:
    """Far outside any default tolerance of `value` (of the `valid` range of a kink,
    when given), never 0."""
    if valid is not None:
        value = valid[0] if direction < 0 else valid[1]
    moved = value + direction * max(0.25 * abs(value), 0.25)
    return moved if moved != 0.0 else value + direction * 0.5


def degenerate_carry(solution: Solution, submission: dict[str, Any]) -> bool:
    """Whether a wrong value (outside the default tolerance of its reference) may be
    degenerate: a forward value within the tolerance of 0 (zeros in, zero out), or of 1
    entering a gate of an op for which that value is degenerate (DEGENERATE_FEEDS), a
    gradient within the tolerance of 0, or a typed local gradient within the tolerance
    of 0 or 1, or one that wrong forward values make so. Such values earn no carried
    credit by design, so they are outside these properties."""
    exercise = solution.exercise
    graph = exercise.graph
    ops = {g.id: g.op for g in exercise.gates}

    def wrong(value: float, low: float, high: float) -> bool:
        return not is_close_to_range(value, low, high, DEFAULT)

    def near(value: float, target: float) -> bool:
        return is_close_relabs(value, target)

    for name, value in submission.get("forward", {}).items():
        reference = solution.values[name]
        if not wrong(value, reference, reference):
            continue
        consumers = [graph.names[c] for c, _ in graph.consumers(graph.index[name])]
        feeds = {ops[c] for c in consumers}
        if near(value, 0.0) or any(
                near(value, v) for op in feeds for v in DEGENERATE_FEEDS.get(op, ())):
            return True
        # A wrong 1 that comes out of a gate unchanged (0 + 1 = 1, max(1, 1)): same in,
        # same out, nothing was computed there.
        typed_out = submission.get("forward", {})
        if near(value, 1.0) and any(
                c in typed_out and near(typed_out[c], 1.0)
                and not near(solution.values[c], 1.0) for c in consumers):
            return True
    for name, value in submission.get("backward", {}).items():
        low, high = solution.grad_ranges.get(name, (solution.grads[name],) * 2)
        if wrong(value, low, high) and near(value, 0.0):
            return True
    # A local gradient that wrong forward values make 0 or 1 (a sigmoid's output pushed
    # to 1 makes σ′ = 0) is degenerate in the same way.
    typed = {**solution.variant.inputs, **submission.get("forward", {})}
    for gate in exercise.gates:
        read = [*gate.inputs, gate.id]
        if not any(wrong(typed[n], solution.values[n], solution.values[n]) for n in read):
            continue
        op = OPS[gate.op]
        mine = local_gradients(op, [typed[i] for i in gate.inputs], typed[gate.id], gate.params)
        right = local_gradients(op, [solution.values[i] for i in gate.inputs],
                                solution.values[gate.id], gate.params)
        if any(near(m, v) and not near(r, v) for m, r in zip(mine, right, strict=True)
               for v in (0.0, 1.0)):
            return True
    for gate, by_input in submission.get("local", {}).items():
        references = solution.local_gradients(gate)
        for name, value in by_input.items():
            low, high = solution.local_ranges.get((gate, name), (references[name],) * 2)
            if wrong(value, low, high) and (near(value, 0.0) or near(value, 1.0)):
                return True
    return False


def by_blank(result: GradeResult) -> dict[tuple[str, str, str | None], str]:
    return {(b.kind, b.node, b.input): b.status for b in result.blanks}


def downstream(solution: Solution, node: str) -> set[str]:
    graph = solution.exercise.graph
    found = {node}
    for k in range(graph.index[node], len(graph.names)):
        if any(graph.names[j] in found for j in graph.inputs_of(k)):
            found.add(graph.names[k])
    return found


@SETTINGS
@given(exercise_texts(SMOOTH + KINKED))
def test_the_reference_submission_always_scores_one(text):
    solution = solved(text)
    result = grade(solution, carried_submission(solution))
    assert result.score == 1.0, [b for b in result.blanks if b.status != "correct"]
    assert result.first_error is None


@SETTINGS
@given(exercise_texts(SMOOTH + KINKED + STEEP), st.data())
def test_one_wrong_forward_value_costs_only_that_blank(text, data):
    solution = solved(text)
    exercise = solution.exercise
    gate = data.draw(st.sampled_from([g.id for g in exercise.gates]))
    slip = perturbed(solution.values[gate], data.draw(st.sampled_from([-1, 1])))
    submission = own_work(solution, forward={gate: slip})
    assume(not degenerate_carry(solution, submission))
    result = grade(solution, submission)
    statuses = by_blank(result)
    assert statuses.pop(("forward", gate, None)) == "incorrect"
    assert set(statuses.values()) <= {"correct", "consistent"}, result.blanks
    after = downstream(solution, gate)
    for (kind, node, _), status in statuses.items():
        if kind == "forward" and node not in after:
            assert status == "correct"
    assert result.first_error is not None
    assert (result.first_error.blank.kind, result.first_error.blank.node) == ("forward", gate)
    carried = {(b.kind, b.node, b.input) for b in result.first_error.propagated_into}
    assert carried == {key for key, status in statuses.items() if status == "consistent"}


@SETTINGS
@given(exercise_texts(SMOOTH + KINKED + STEEP), st.data())
def test_one_wrong_gradient_costs_only_that_blank(text, data):
    solution = solved(text)
    graph = solution.exercise.graph
    node = data.draw(st.sampled_from(graph.names))
    slip = perturbed(solution.grads[node], data.draw(st.sampled_from([-1, 1])),
                     solution.grad_ranges.get(node))
    submission = own_work(solution, backward={node: slip})
    assume(not degenerate_carry(solution, submission))
    result = grade(solution, submission)
    statuses = by_blank(result)
    assert statuses.pop(("backward", node, None)) == "incorrect"
    assert set(statuses.values()) <= {"correct", "consistent"}, result.blanks
    upstream = {n for n in graph.names if node in downstream(solution, n)}
    for (kind, name, _), status in statuses.items():
        if kind != "backward" or name not in upstream:
            assert status == "correct", (kind, name)


@SETTINGS
@given(exercise_texts(SMOOTH + KINKED + STEEP, asks_local=True), st.data())
def test_one_wrong_local_gradient_costs_only_that_blank(text, data):
    solution = solved(text)
    exercise = solution.exercise
    gate = data.draw(st.sampled_from(exercise.gates))
    name = data.draw(st.sampled_from(sorted(set(gate.inputs))))
    reference = solution.local_gradients(gate.id)[name]
    slip = perturbed(reference, data.draw(st.sampled_from([-1, 1])),
                     solution.local_ranges.get((gate.id, name)))
    submission = own_work(solution, local={(gate.id, name): slip})
    assume(not degenerate_carry(solution, submission))
    result = grade(solution, submission)
    statuses = by_blank(result)
    assert statuses.pop(("local", gate.id, name)) == "incorrect"
    assert set(statuses.values()) <= {"correct", "consistent"}, result.blanks


@SETTINGS
@given(exercise_texts(SMOOTH + STEEP), st.booleans())
def test_working_by_hand_to_two_decimals_makes_no_error(text, asks_local):
    # Every number rounded to two decimals before it is typed and used further: not
    # one blank is an error, whatever the rounding does to the later ones.
    if asks_local:
        text = text.replace("ask: [forward, backward]", "ask: [forward, backward, local]")
    solution = solved(text)
    result = grade(solution, own_work(solution, decimals=2))
    assert not [b for b in result.blanks if b.status == "incorrect"], result.blanks
    assert result.score == 1.0
    assert result.first_error is None


def test_working_by_hand_to_two_decimals_scores_one_on_every_random_neuron():
    exercise = load_exercise(EXERCISES / "sigmoid-neuron-random.yaml")
    for seed in range(300):
        solution = solve(draw_variant(exercise, seed))
        result = grade(solution, carried_submission(solution, decimals=2))
        wrong = [b for b in result.blanks if b.status == "incorrect"]
        assert not wrong, (seed, wrong)
        assert result.score == 1.0, seed
        assert result.first_error is None, seed


ANYTHING = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-3, 3).map(lambda v: round(v, 2)),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, -1.0, None, "", "0.5", True, False]),
)


@SETTINGS
@given(exercise_texts(SMOOTH + KINKED, asks_local=True), st.data())
def test_anything_typed_is_graded_safely_and_never_reveals_a_reference(text, data):
    solution = solved(text)
    exercise = solution.exercise
    submission: dict[str, Any] = {"forward": {}, "backward": {}, "local": {}}
    for gate in exercise.gates:
        if data.draw(st.booleans()):
            submission["forward"][gate.id] = data.draw(ANYTHING)
        for name in gate.inputs:
            if data.draw(st.booleans()):
                submission["local"].setdefault(gate.id, {})[name] = data.draw(ANYTHING)
    for name in exercise.graph.names:
        if data.draw(st.booleans()):
            submission["backward"][name] = data.draw(ANYTHING)
    result = grade(solution, submission)
    assert 0.0 <= result.score <= 1.0
    assert result.has_format_errors == any(b.status == "invalid" for b in result.blanks)
    # A gate's constant is part of the exercise, drawn with the gate ("×1.5"): naming
    # the gate is no answer given, even where the answer is that constant.
    constants = {v for g in exercise.gates for v in g.params.values()}
    for b in result.blanks:
        if b.status not in ("incorrect", "consistent"):
            continue
        if b.kind == "forward":
            reference = solution.values[b.node]
        elif b.kind == "backward":
            reference = solution.grads[b.node]
        else:
            assert b.input is not None
            reference = solution.local_gradients(b.node)[b.input]
        if math.isfinite(reference) and abs(reference) >= 0.005 and reference not in (
                1.0, -1.0, 2.0, -2.0, 0.5, -0.5, *constants):  # constants appear in rules
            assert fmt(reference) not in b.message
            assert repr(reference) not in b.message


# Ways to type a reference value: within the default tolerance (rounded, or off by
# less than 1 %, some just inside it) ...
WITHIN = st.one_of(
    st.integers(2, 6).map(lambda d: ("round", d)),
    st.sampled_from([1e-9, 1e-4, 0.004, -0.004, 0.009, -0.009]).map(lambda e: ("scale", e)),
)
# ... or not: just outside it, far, coarse, missing, not a number, a zero.
BEYOND = st.one_of(
    st.integers(0, 1).map(lambda d: ("round", d)),
    st.sampled_from([0.011, -0.011, 0.05, -0.3]).map(lambda e: ("scale", e)),
    st.sampled_from([("drop", 0), ("text", 0), ("zero", 0)]),
)


def nudged(value: float, how: tuple[str, float]) -> Any:
    kind, amount = how
    if kind == "round":
        return round(value, int(amount))
    if kind == "scale":
        return value * (1 + amount) + amount / 100
    if kind == "text":
        return str(value)
    return 0.0 if kind == "zero" else None


@SETTINGS
@given(exercise_texts(SMOOTH + KINKED + STEEP), st.data())
def test_the_shortcut_for_close_submissions_grades_as_the_full_run(text, data):
    # Submissions at, near and just past the tolerance of the reference: whatever the
    # shortcut decides (every blank within tolerance: all correct) the full run decides.
    solution = solved(text)
    exercise = solution.exercise
    reference: dict[str, Any] = {
        "forward": {g.id: solution.values[g.id] for g in exercise.gates},
        "backward": dict(solution.grads),
    }
    if "local" in exercise.ask:
        reference["local"] = {g.id: dict(solution.local_gradients(g.id))
                              for g in exercise.gates}
    blanks = [(kind, name, i) for kind, row in reference.items() for name, v in row.items()
              for i in (v if isinstance(v, dict) else [None])]
    # Typed within tolerance throughout (the shortcut's case), all but one blank (the
    # case it must turn down), or anyhow.
    mode = data.draw(st.sampled_from(["within", "one beyond", "anyhow"]))
    odd = data.draw(st.sampled_from(blanks)) if mode == "one beyond" else None
    submission: dict[str, Any] = {kind: {} for kind in reference}
    for kind, name, i in blanks:
        typing = (BEYOND if (kind, name, i) == odd else WITHIN) if mode != "anyhow" else (
            st.one_of(WITHIN, BEYOND))
        value = reference[kind][name] if i is None else reference[kind][name][i]
        typed = nudged(value, data.draw(typing))
        if typed is None:
            continue
        if i is None:
            submission[kind][name] = typed
        else:
            submission[kind].setdefault(name, {})[i] = typed
    shortcut = grade(solution, submission)
    event("every blank correct" if shortcut.score == 1.0 else "some blank not correct")
    with patch.object(Grading, "all_close", lambda self: False):
        full = grade(solution, submission)
    assert shortcut == full
