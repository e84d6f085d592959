"""Node-by-node scoring: tolerances, error carried forward, diagnosis, first error.

Pure: no web, no database, no I/O. `grade(solution, submission)` judges every blank the
exercise asks for, in the order a student works: the forward pass in topological order,
then the backward pass from the output back (at each gate, df/d(gate) and then the
gate's local gradients, which its inputs' gradients need).

Each typed number is

* `correct` when it is within tolerance of the reference (any point of the valid range
  at a kink);
* `consistent` when it is not, but equals what the student's *own* numbers give: the
  gate applied to their forward values of its inputs; for a gradient, the sum over the
  node's consumers of their upstream gradient · the local gradient at their forward
  values (or · their own typed local gradient); for a local gradient, the op's local
  gradient at their forward values. At least one of those numbers must differ from
  the reference, or there is nothing carried. When they differ only because they were
  rounded (all right, within tolerance), the blank is consistent too, and told to keep
  more digits: 0.20 · 2 = 0.40 is not 0.3932 within 1 %, but it is no error;
* `incorrect` otherwise, diagnosed (grader.mistakes), or flagged as typed with too few
  digits to be judged (insufficient precision);
* `missing` (no key) or `invalid` (a format error: not graded). Later blanks are then
  checked against the reference value of the missing one.

Carried credit is guarded against degenerate values, which make what follows them
trivial. A value is degenerate when it is wrong (outside the tolerance of its reference)
because of an error (it is incorrect, or carried from an incorrect blank), its reference
is not itself about the same value, and it compares equal, under its own node's
tolerance, to

* 0, for a gradient (df/dnode) or a typed local gradient: everything computed from it
  is 0;
* 1, for a typed local gradient: what flows back through it is passed on unchanged;
* a value in DEGENERATE_FEEDS of the gate it enters, for a forward value: 0 or 1
  entering mul, div or scale (0·y = 0, 1·y = y, 0/y, y/1, a·0, a·1), 0 entering exp
  (e^0 = 1, and its local gradient 1), 1 entering inv (1/1 = 1, and -1); and 0 entering
  any gate whose wrong inputs are all such zeros and whose output is then 0 too (zeros
  in, zero out: 0 + 0, tanh 0, sin 0, max(0, 0)).

Nothing consistent with a degenerate value earns credit, and neither does anything
consistent with *that* (the taint follows the chain). A value that is right (within
tolerance), such as 0.00 typed for a gradient of -4.5e-5, is never degenerate, nor is one
that differs from the reference only because right numbers were rounded: neither blocks
anything. A wrong gradient of 1, and a single wrong 0 among right inputs of an add, are
not degenerate: what follows them still has to be computed. An honest slip whose
consequences become about 0 (a sigmoid pushed into saturation) is treated like a typed 0
from there on: the two cannot be told apart.

However it is earned, credit carried from an incorrect blank lifts a score at most up to
the cap, `ScoringPolicy.carried_cap`; by default the cap is what one incorrect blank (the
one worth least) leaves, so that one slip costs exactly one blank.

`first_error` is the first incorrect blank in working order, the one to fix first: an
error in the forward pass changes what follows it, an error in the backward pass what
lies before it, and the working order visits every blank after those it is computed
from. It lists the blanks its wrong value was carried into.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import pydantic_core

from engine import Exercise, Solution
from engine.ops import OPS, Op, evaluate, local_gradients
from grader.scoring import feedback
from grader.scoring.mistakes import (
    MISTAKES,
    Edge,
    Mistake,
    WrongBlank,
    applicable,
    diagnose,
)
from grader.scoring.submission import (
    FieldError,
    FormatError,
    Submission,
    SubmissionError,
    parse_submission,
    read_number,
)
from grader.scoring.tolerance import (
    FAR,
    NOISE_ABS,
    NOISE_REL,
    SAME,
    Allowance,
    Comparator,
    allowance_for,
    comparator_for,
    is_insufficient_precision,
)

__all__ = [
    "DEFAULT_POLICY",
    "DEGENERATE_FEEDS",
    "INSUFFICIENT_PRECISION",
    "BlankRef",
    "BlankResult",
    "FieldError",
    "FirstError",
    "GradeResult",
    "ScoringPolicy",
    "Submission",
    "SubmissionError",
    "grade",
    "parse_submission",
]

Kind = Literal["forward", "backward", "local"]
Status = Literal["correct", "consistent", "incorrect", "missing", "invalid"]

# A wrong forward value equal (within its tolerance) to one of these, entering a gate of
# this op, leaves nothing to compute at the gate: its output and local gradients are
# trivial (the ops' own table, engine.ops: 0·y = 0, 1·y = y, e^0 = 1, 1/1 = 1).
DEGENERATE_FEEDS: Mapping[str, tuple[float, ...]] = {
    name: op.degenerate_feeds for name, op in OPS.items() if op.degenerate_feeds}
# The same, as bit masks over _NEAR_VALUES: bit n set for _NEAR_VALUES[n].
_NEAR_VALUES = (0.0, 1.0)
_NEAR_ZERO = 1
_FEED_MASKS: Mapping[str, int] = {
    op: sum(1 << _NEAR_VALUES.index(v) for v in values)
    for op, values in DEGENERATE_FEEDS.items()}

INSUFFICIENT_PRECISION = "insufficient-precision"

# Flags of a number used to compute an expectation.
_DIFF = 1  # differs from the reference: there is something to carry
_ERR = 2  # traces back to an incorrect blank (not just to rounding)
_WRONG = 4  # outside the tolerance of the reference (incorrect or consistent)
# No carried credit through this number, and why:
_ZERO = 8  # a wrong gradient (or local gradient) of 0: everything it multiplies is 0
_UNIT = 16  # a wrong local gradient of 1: what flows back passes on unchanged
_FEED = 32  # a wrong degenerate feed (DEGENERATE_FEEDS): the gate's output is trivial
_TAINT = 64  # it matched the student's numbers only through a degenerate one
_BLOCK = _ZERO | _UNIT | _FEED | _TAINT
_WRONG_BY_ERROR = _ERR | _WRONG  # the values that can be degenerate


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    """How points are given.

    `consistent_share` (default 1): the share of a blank's points a consistent blank
    earns; 1 makes one slip cost one blank, the issue's default.

    `carried_cap`: the highest score credit carried from an incorrect blank can lift a
    submission to; blanks right on their own always count in full. The default, None,
    is what one incorrect blank leaves: 1 - (points of the blank worth least) / (total
    points), so one slip costs exactly its own blank (never more), while a submission
    that rests on a wrong value never equals a right one (unless a kind of blank is
    worth 0 points: a slip there costs nothing, so there is no cap). The
    degenerate-value guard is what stops the known ways of gaming carried credit; a
    lower cap (0.9, say) also bounds what any unforeseen one could earn, at the price
    of charging a slip whose consequences fill the graph more than one blank.

    `forward_points`, `backward_points`, `local_points` (default 1 each): a blank's
    points by kind, to weigh the kinds against each other. `mistakes`: the diagnosis
    hypotheses, in the order they are tried.
    """

    consistent_share: float = 1.0
    carried_cap: float | None = None
    forward_points: float = 1.0
    backward_points: float = 1.0
    local_points: float = 1.0
    mistakes: tuple[Mistake, ...] = MISTAKES

    def __post_init__(self) -> None:
        if not 0.0 <= self.consistent_share <= 1.0:
            raise ValueError("consistent_share must be within [0, 1]")
        if self.carried_cap is not None and not 0.0 <= self.carried_cap <= 1.0:
            raise ValueError("carried_cap must be within [0, 1], or None")
        points = (self.forward_points, self.backward_points, self.local_points)
        if any(not (math.isfinite(p) and p >= 0.0) for p in points):
            raise ValueError("points per blank must be finite and >= 0")

    def points(self, kind: str) -> float:
        if kind == "forward":
            return self.forward_points
        return self.backward_points if kind == "backward" else self.local_points


@dataclass(frozen=True, slots=True)
class BlankRef:
    """Which blank: a kind, a node, and for a local gradient the input."""

    kind: Kind
    node: str
    input: str | None = None

    def as_dict(self) -> dict[str, str]:
        found = {"kind": self.kind, "node": self.node}
        if self.input is not None:
            found["input"] = self.input
        return found


class BlankResult(NamedTuple):
    """One blank's verdict (a named tuple: a graded 5,000-node exercise makes 10,000)."""

    kind: Kind
    node: str
    input: str | None
    status: Status
    points: float
    max_points: float
    mistake: str | None
    message: str

    @property
    def ref(self) -> BlankRef:
        return BlankRef(self.kind, self.node, self.input)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind, "node": self.node}
        if self.input is not None:
            found["input"] = self.input
        found.update(status=self.status, points=self.points, max_points=self.max_points,
                     mistake=self.mistake, message=self.message)
        return found


@dataclass(frozen=True, slots=True)
class FirstError:
    """The first incorrect blank in working order, and the blanks its wrong value was
    carried into (consistent ones, and those refused carried credit)."""

    blank: BlankRef
    propagated_into: tuple[BlankRef, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**self.blank.as_dict(),
                "propagated_into": [b.as_dict() for b in self.propagated_into]}


@dataclass(frozen=True, slots=True)
class GradeResult:
    """A graded submission: the score (0 to 1), every blank in working order, and where
    to start fixing. `as_dict()` is what a student may see."""

    score: float
    blanks: tuple[BlankResult, ...]
    first_error: FirstError | None
    output: str  # the exercise's output id, for labels such as df/dx
    _json: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def format_errors(self) -> tuple[BlankResult, ...]:
        """Blanks holding no usable number: the submission should not count."""
        return tuple(b for b in self.blanks if b.status == "invalid")

    @property
    def has_format_errors(self) -> bool:
        return any(b.status == "invalid" for b in self.blanks)

    def as_dict(self) -> dict[str, Any]:
        """The JSON result: score, blanks, first_error. No reference values."""
        return {
            "score": self.score,
            "blanks": [b.as_dict() for b in self.blanks],
            "first_error": None if self.first_error is None else self.first_error.as_dict(),
        }

    def as_json(self) -> str:
        """`as_dict()` as compact JSON text, written once per result: the result every
        submission right throughout shares is made once per exercise (and policy)."""
        text = self._json
        if text is None:
            text = pydantic_core.to_json(self.as_dict()).decode()
            object.__setattr__(self, "_json", text)  # a cache: the result stays the same
        return text

    def label(self, blank: BlankRef | BlankResult) -> str:
        """How a blank is named to a student: "p0", "df/dp0", "local ∂p0/∂x0"."""
        return feedback.blank_label(blank.kind, blank.node, blank.input, self.output)

    def summary(self) -> str:
        """One sentence: where to start fixing."""
        if self.has_format_errors:
            return feedback.summary_format_errors(len(self.format_errors))
        if self.first_error is None:
            missing = sum(b.status == "missing" for b in self.blanks)
            rounded = sum(b.status == "consistent" for b in self.blanks)
            if missing:
                return feedback.summary_blanks_left(missing)
            if rounded:
                return feedback.summary_rounded(rounded)
            return feedback.EVERY_BLANK_RIGHT
        first = self.first_error
        result = next(b for b in self.blanks if b.ref == first.blank)
        return feedback.summary_start_here(self.label(first.blank), first.blank.kind,
                                           result.message, len(first.propagated_into))


DEFAULT_POLICY = ScoringPolicy()


def grade(
    solution: Solution,
    submission: Submission | Mapping[str, Any],
    *,
    policy: ScoringPolicy = ScoringPolicy(),
) -> GradeResult:
    """Score a submission against a variant's reference solution, blank by blank.

    A mapping is parsed first (SubmissionError when it does not fit the exercise).
    """
    exercise = solution.exercise
    if not isinstance(submission, Submission):
        submission = parse_submission(submission, exercise)
    return _Grading(_plan_for(exercise), solution, submission, policy).run()


# ---------------------------------------------------------------- per-exercise plan


class _Plan:
    """What grading needs from an exercise, by node position, computed once."""

    __slots__ = (
        "__weakref__",
        "all_correct_results",
        "allow",
        "ask",
        "compare",
        "constant_locals",
        "consumer_ops",
        "consumers",
        "distinct",
        "fixed_results",
        "gates",
        "input_names",
        "ins",
        "key_labels",
        "kinds",
        "labels",
        "local_keys",
        "local_ops",
        "n_inputs",
        "names",
        "ops",
        "order",
        "output",
        "params",
        "reads",
        "rule_marks",
        "slots",
    )

    def __init__(self, exercise: Exercise) -> None:
        graph = exercise.graph
        self.names: tuple[str, ...] = graph.names
        self.n_inputs = len(graph.input_names)
        self.output: int = graph.output
        self.ask = frozenset(exercise.ask)
        n = len(self.names)
        self.gates = range(self.n_inputs, n)
        self.ops: list[Op | None] = [graph.op_of(k) for k in range(n)]
        self.ins: list[tuple[int, ...]] = [graph.inputs_of(k) for k in range(n)]
        self.input_names: list[tuple[str, ...]] = [
            tuple(self.names[i] for i in ins) for ins in self.ins]
        self.params: list[Mapping[str, float]] = [{}] * self.n_inputs + [
            dict(g.params) for g in exercise.gates]
        self.distinct: list[tuple[int, ...]] = [tuple(dict.fromkeys(i)) for i in self.ins]
        self.slots: list[dict[int, tuple[int, ...]]] = [_slots_of(ins) for ins in self.ins]
        self.reads: list[dict[int, tuple[int, ...]]] = [
            {j: _slots_read(op, slots, len(ins)) for j, slots in by_input.items()}
            if op is not None else {}
            for op, ins, by_input in zip(self.ops, self.ins, self.slots, strict=True)]
        # Local gradients that read no value (add, sub, neg, scale, add_const), by input:
        # the same for the reference and the student, so never carried.
        self.constant_locals: list[dict[int, float] | None] = [None] * n
        for k in self.gates:
            op = self.ops[k]
            if op is not None and op.constant_local:
                ins = self.ins[k]
                slot_locals = local_gradients(op, [0.0] * len(ins), 0.0, self.params[k])
                self.constant_locals[k] = {j: sum(slot_locals[s] for s in slots)
                                           for j, slots in self.slots[k].items()}
        self.consumers: list[tuple[int, ...]] = [
            tuple(dict.fromkeys(c for c, _ in graph.consumers(k))) for k in range(n)]
        # The ops a gradient flows back through, for choosing the hypotheses to try (of
        # the consumers: on first use).
        self.local_ops: list[frozenset[str]] = [
            _NO_OPS if op is None else _op_set(op.name) for op in self.ops]
        self.consumer_ops: dict[int, frozenset[str]] = {}
        # One allowance per tolerance object: most nodes share the exercise's.
        by_tolerance: dict[int, tuple[Allowance, Comparator]] = {}
        self.allow: list[Allowance] = []
        self.compare: list[Comparator] = []
        for name in self.names:
            shared = id(exercise.node_tolerances.get(name))
            found = by_tolerance.get(shared)
            if found is None:
                tolerance = exercise.tolerance_for(name)
                found = by_tolerance[shared] = (allowance_for(tolerance),
                                                comparator_for(tolerance))
            self.allow.append(found[0])
            self.compare.append(found[1])
        # Blanks in working order: the forward pass, then the backward pass from the
        # output back, each gate's local gradients right after its own gradient.
        self.order: list[_Key] = []
        if "forward" in self.ask:
            self.order += [("forward", k, -1) for k in self.gates]
        for k in reversed(self.gates):
            if "backward" in self.ask:
                self.order.append(("backward", k, -1))
            if "local" in self.ask:
                self.order += [("local", k, j) for j in self.distinct[k]]
        if "backward" in self.ask:
            self.order += [("backward", k, -1) for k in range(self.n_inputs)]
        self.labels: list[tuple[Kind, str, str | None]] = [
            (kind, self.names[k], self.names[j] if j >= 0 else None)  # type: ignore[misc]
            for kind, k, j in self.order]
        self.kinds = frozenset(kind for kind, _, _ in self.order)
        self.local_keys: list[tuple[tuple[int, _Key], ...]] = [
            tuple((j, ("local", k, j)) for j in self.distinct[k]) for k in range(n)]
        # Made on first use, then shared by every submission: how a blank is named, the
        # mark of a plainly wrong one (the rule of its kind), and the results of blanks
        # with such shared marks.
        self.key_labels: dict[_Key, str] = {}
        self.rule_marks: dict[_Key, _Mark] = {}
        self.fixed_results: dict[tuple[float, float, float], _FixedResults] = {}
        self.all_correct_results: dict[ScoringPolicy, GradeResult] = {}

    def consumer_ops_of(self, k: int) -> frozenset[str]:
        found = self.consumer_ops.get(k)
        if found is None:
            found = self.consumer_ops[k] = frozenset().union(
                *(self.local_ops[c] for c in self.consumers[k]))
        return found

    def key_label(self, key: _Key) -> str:
        found = self.key_labels.get(key)
        if found is None:
            kind, k, j = key
            names = self.names
            found = self.key_labels[key] = feedback.blank_label(
                kind, names[k], names[j] if j >= 0 else None, names[self.output])
        return found

    def rule_mark(self, key: _Key) -> _Mark:
        found = self.rule_marks.get(key)
        if found is None:
            found = self.rule_marks[key] = _Mark("incorrect", message=self._rule(key),
                                                 err=True)
        return found

    def all_correct(self, policy: ScoringPolicy,
                    make: Callable[[], GradeResult]) -> GradeResult:
        """The result of a submission right throughout, made once per policy and shared
        (a result is never changed)."""
        found = self.all_correct_results.get(policy)
        if found is None:
            if len(self.all_correct_results) > 8:  # many policies: keep a few
                self.all_correct_results.clear()
            found = self.all_correct_results[policy] = make()
        return found

    def results_of(self, points: tuple[float, float, float]) -> _FixedResults:
        """The results of blanks right, missing, or plainly wrong (by position in working
        order), for these points per kind: the same for every submission."""
        found = self.fixed_results.get(points)
        if found is None:
            if len(self.fixed_results) > 8:  # many policies: keep a few
                self.fixed_results.clear()
            top = dict(zip(("forward", "backward", "local"), points, strict=True))
            found = self.fixed_results[points] = (
                [BlankResult(kind, node, input_, "correct", top[kind], top[kind], None,
                             _CORRECT_MARK.message) for kind, node, input_ in self.labels],
                [BlankResult(kind, node, input_, "missing", 0.0, top[kind], None,
                             _MISSING_MARK.message) for kind, node, input_ in self.labels],
                {})
        return found

    def _rule(self, key: _Key) -> str:
        kind, k, j = key
        names = self.names
        name = names[k]
        op = self.ops[k]
        if kind == "forward":
            assert op is not None
            return feedback.rule_forward(name, op.name, [names[i] for i in self.ins[k]])
        if kind == "local":
            assert op is not None
            return feedback.rule_local(name, op.name, names[j])
        output = names[self.output]
        if k == self.output:
            return feedback.rule_output_gradient(name)
        consumers = self.consumers[k]
        if len(consumers) == 1:
            return feedback.rule_one_consumer(output, name, names[consumers[0]])
        return feedback.rule_many_consumers(output, name, [names[c] for c in consumers])

    def least_points(self, policy: ScoringPolicy) -> float:
        """The points of the blank worth least."""
        return min(map(policy.points, self.kinds), default=0.0)


def _slots_of(ins: tuple[int, ...]) -> dict[int, tuple[int, ...]]:
    """Input node -> the slots it fills (two for x in x·x), in one pass: a final sum
    may have thousands of inputs."""
    slots: dict[int, list[int]] = {}
    for slot, i in enumerate(ins):
        slots.setdefault(i, []).append(slot)
    return {i: tuple(found) for i, found in slots.items()}


_NO_OPS: frozenset[str] = frozenset()
_OP_SETS: dict[str, frozenset[str]] = {}


def _op_set(op: str) -> frozenset[str]:
    """{op}, one shared set per op."""
    found = _OP_SETS.get(op)
    if found is None:
        found = _OP_SETS[op] = frozenset((op,))
    return found


def _slots_read(op: Op, slots: tuple[int, ...], arity: int) -> tuple[int, ...]:
    """Which input slots the local gradient for `slots` reads (so a degenerate value it
    does not read cannot block credit)."""
    read: set[int] = set()
    for slot in slots:  # a node in two slots (x·x) is read through each of them
        read.update(op.slots_read(slot, arity))
    return tuple(sorted(read))


_plans: weakref.WeakKeyDictionary[Exercise, _Plan] = weakref.WeakKeyDictionary()


def _plan_for(exercise: Exercise) -> _Plan:
    plan = _plans.get(exercise)
    if plan is None:
        plan = _plans[exercise] = _Plan(exercise)
    return plan


# ---------------------------------------------------------------- one grading


@dataclass(slots=True)
class _Mark:
    """The verdict on one blank, before points."""

    status: Status
    mistake: str | None = None
    message: str = ""
    sources: tuple[tuple[str, int, int], ...] = ()  # blanks a carried value came from
    err: bool = False  # traces to an incorrect blank (a consistent one: not to rounding)


class _OwnLocal(NamedTuple):
    """A gate's local gradient for one input, at the student's own forward values."""

    point: float
    low: float
    high: float
    slot_locals: tuple[float, ...]
    flags: int
    sources: tuple[tuple[str, int, int], ...]


_Key = tuple[str, int, int]  # (kind, node position, input position or -1)
# Results shared by every submission, by position: right, missing, plainly wrong.
_FixedResults = tuple[list[BlankResult], list[BlankResult], dict[int, BlankResult]]
# What the student's own numbers give for a blank: (low, high, flags, sources, point);
# low < high only where a kink leaves a choice of subgradient.
_Expectation = tuple[float, float, int, tuple[_Key, ...], float]


class _Grading:
    """One submission graded: working values and flags per node, verdicts per blank."""

    def __init__(self, plan: _Plan, solution: Solution, submission: Submission,
                 policy: ScoringPolicy) -> None:
        self.plan = plan
        self.solution = solution
        self.policy = policy
        names = plan.names
        self.ref_value = [solution.values[name] for name in names]
        self.ref_grad = [solution.grads[name] for name in names]
        index = solution.exercise.graph.index
        self.typed_forward = {index[k]: v for k, v in submission.forward.items()}
        self.typed_backward = {index[k]: v for k, v in submission.backward.items()}
        self.typed_local: dict[int, dict[int, Any]] = {}
        for (c, j), v in submission.local.items():
            self.typed_local.setdefault(index[c], {})[index[j]] = v
        # Working numbers: what the student typed where it is a number, else the reference.
        self.fv = list(self.ref_value)
        self.fflag = [0] * len(names)
        # For a wrong forward value (by error): bit n set when it equals _NEAR_VALUES[n]
        # within its tolerance (a degenerate feed for the ops in _FEED_MASKS).
        self.fnear: dict[int, int] = {}
        self.gv = list(self.ref_grad)
        self.gflag = [0] * len(names)
        self.lv: dict[tuple[int, int], float] = {}
        self.lflag: dict[tuple[int, int], int] = {}
        self.marks: dict[_Key, _Mark] = {}
        self._own: dict[int, dict[int, _OwnLocal] | None] = {}
        self._ref_local: dict[int, dict[int, float]] = {}
        self._carried: dict[tuple[int, tuple[_Key, ...]], _Mark] = {}
        self.grad_ranges = solution.grad_ranges

    def run(self) -> GradeResult:
        plan = self.plan
        if self._all_close():
            return plan.all_correct(self.policy, self._all_correct_result)
        if "forward" in plan.ask:
            for k in plan.gates:
                self._forward(k)
        if "backward" in plan.ask or "local" in plan.ask:
            for k in reversed(plan.gates):
                if "backward" in plan.ask:
                    self._backward(k)
                if "local" in plan.ask:
                    self._locals(k)
            if "backward" in plan.ask:
                for k in range(plan.n_inputs):
                    self._backward(k)
        return self._result()

    def _all_correct_result(self) -> GradeResult:
        self.marks = dict.fromkeys(self.plan.order, _CORRECT_MARK)
        return self._result()

    def _all_close(self) -> bool:
        """Whether every blank holds a finite number within tolerance of its valid
        range. Then no blank is wrong, so none is computed from an error, and each is
        correct: what the full run would find, without its expectations and flags. The
        usual submission; any other takes the full run."""
        plan = self.plan
        compare = plan.compare
        if "forward" in plan.ask:
            typed, ref = self.typed_forward, self.ref_value
            for k in plan.gates:
                x = typed.get(k)
                if type(x) is not float or x - x != 0.0 or compare[k](x, ref[k], ref[k]) == FAR:
                    return False
        if "backward" in plan.ask:
            typed = self.typed_backward
            for k in range(len(plan.names)):
                x = typed.get(k)
                if type(x) is not float or x - x != 0.0:
                    return False
                low, high = self._grad_range(k)
                if compare[k](x, low, high) == FAR:
                    return False
        if "local" in plan.ask:
            for c in plan.gates:
                keys = plan.local_keys[c]
                typed_at = self.typed_local.get(c)
                if typed_at is None:
                    if keys:
                        return False
                    continue
                constant = plan.constant_locals[c]
                for j, _ in keys:
                    x = typed_at.get(j)
                    if type(x) is not float or x - x != 0.0:
                        return False
                    if constant is not None:
                        low = high = constant[j]
                    else:
                        _, low, high = self._reference_local(c, j)
                    if compare[c](x, low, high) == FAR:
                        return False
        return True

    # -------------------------------------------------------- reading and comparing

    def _read(self, key: _Key, raw: Any) -> float | None:
        """The typed number, or None after marking the blank missing or invalid. (The
        common case, a finite float, is taken by the callers first.)"""
        if raw is _MISSING:
            self.marks[key] = _MISSING_MARK
            return None
        value = read_number(raw)
        if isinstance(value, FormatError):
            self.marks[key] = _Mark("invalid", message=feedback.format_error(value.message))
            return None
        return value

    def _verdict(self, key: _Key, x: float, low: float, high: float, point: float,
                 ) -> tuple[int | None, list[_Expectation | None]]:
        """Judge a typed number against the valid range [low, high] (the reference
        `point`, but at a kink every valid subgradient): mark it when it is right or
        carried and return its flags as a source, with the expectations computed from
        the student's own numbers; (None, expectations) when it is wrong, for the
        caller to explain.
        """
        kind, k, j = key
        compare = self.plan.compare[k]
        closeness_ = compare(x, low, high)
        if closeness_ == SAME and (low == high or compare(x, point, point) == SAME):
            self.marks[key] = _CORRECT_MARK
            return 0, []
        if closeness_ != FAR and not self._after_error(kind, k, j):
            # Right, rounded, or another valid subgradient at a kink: nothing to carry
            # but digits (or the choice made at the kink).
            self.marks[key] = _CORRECT_MARK
            return _DIFF, []
        expectations = self._expect(kind, k, j)
        matches = [e for e in expectations if e is not None and e[2] & _DIFF
                   and compare(x, e[0], e[1]) != FAR]
        if closeness_ != FAR:
            # Right, but not the reference's own number: rounded, another choice at a
            # kink, or shifted by an earlier error it was computed from. Only the latter
            # is carried further.
            carried = next((e for e in matches if e[2] & _ERR and not e[2] & _BLOCK), None)
            if carried is None:
                self.marks[key] = _CORRECT_MARK
                return _DIFF, expectations
            self.marks[key] = _Mark("correct", message=feedback.CORRECT, sources=carried[3])
            return _DIFF | _ERR, expectations
        if matches:
            best = matches[0] if len(matches) == 1 else min(
                matches, key=lambda e: e[2] & _BLOCK)  # unblocked credit first
            return self._carry(key, best[2], best[3]), expectations
        return None, expectations

    def _expect(self, kind: str, k: int, j: int) -> list[_Expectation | None]:
        """What the student's own numbers give for a blank."""
        if kind == "forward":
            return [self._expected_forward(k)]
        if kind == "backward":
            if k == self.plan.output:
                return []  # df/df is 1 whatever came before: nothing to carry
            return self._expected_gradients(k)
        own = (self._own_locals(k) or {}).get(j)
        return [None if own is None else (own.low, own.high, own.flags, own.sources, own.point)]

    def _after_error(self, kind: str, k: int, j: int) -> bool:
        """Whether any number a blank is computed from traces back to an incorrect blank:
        when none does, a right number needs no expectation. Cheap."""
        fflag = self.fflag
        if kind == "forward":
            return any(fflag[i] & _ERR for i in self.plan.distinct[k])
        if kind == "local":
            return self._gate_after_error(k)
        gflag = self.gflag
        lflag = self.lflag
        return any(gflag[c] & _ERR or self._gate_after_error(c)
                   or lflag.get((c, k), 0) & _ERR for c in self.plan.consumers[k])

    # -------------------------------------------------------- forward blanks

    def _forward(self, k: int) -> None:
        key = ("forward", k, -1)
        raw = self.typed_forward.get(k, _MISSING)
        x = raw if type(raw) is float and raw - raw == 0.0 else self._read(key, raw)
        if x is None:
            return
        self.fv[k] = x
        ref = self.ref_value[k]
        flags, expectations = self._verdict(key, x, ref, ref, ref)
        if flags is not None:
            self.fflag[k] = flags
            if flags & _WRONG_BY_ERROR == _WRONG_BY_ERROR:
                self._note_near(k, x, ref)
            return
        self.fflag[k] = _DIFF | _ERR | _WRONG
        self._note_near(k, x, ref)
        expected = expectations[0][4] if expectations and expectations[0] else None
        self.marks[key] = self._wrong(key, k, x, ref, ref, expected)

    def _expected_forward(self, k: int) -> _Expectation | None:
        """The gate applied to the student's own values of its inputs."""
        plan = self.plan
        op = plan.ops[k]
        assert op is not None
        flags = 0
        sources: list[_Key] = []
        zeros_in = True  # every input that differs is a wrong zero
        fflag = self.fflag
        fnear = self.fnear
        feed_mask = _FEED_MASKS.get(op.name, 0)
        for i in plan.distinct[k]:
            f = fflag[i]
            if f & _DIFF:
                near = fnear.get(i, 0) if fnear else 0
                if near & feed_mask:
                    f |= _FEED  # a degenerate feed (see _feed_flags)
                flags |= f
                sources.append(("forward", i, -1))
                zeros_in = zeros_in and bool(near & _NEAR_ZERO)
        if not flags & _DIFF:
            return None  # the reference's own inputs: nothing to carry
        try:
            value = evaluate(op, [self.fv[i] for i in plan.ins[k]], plan.params[k])
        except (ArithmeticError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        if zeros_in and not flags & _BLOCK:
            # Wrong zeros in, zero out (0 + 0, tanh 0, sin 0, max(0, 0)): nothing to
            # compute, unless the reference is about zero as well.
            compare = plan.compare[k]
            ref = self.ref_value[k]
            if compare(value, 0.0, 0.0) != FAR and compare(ref, 0.0, 0.0) == FAR:
                flags |= _FEED
        return value, value, flags, tuple(sources), value

    def _note_near(self, k: int, x: float, ref: float) -> None:
        """Note which degenerate feed values a wrong forward value equals (within its
        node's tolerance), where the reference does not: a reference that is itself about
        0 or 1 makes what follows just as trivial, so there is nothing to game."""
        compare = self.plan.compare[k]
        near = 0
        for n, v in enumerate(_NEAR_VALUES):
            if (x == v or compare(x, v, v) != FAR) and compare(ref, v, v) == FAR:
                near |= 1 << n
        if near:
            self.fnear[k] = near

    def _feed_flags(self, i: int, op: str) -> int:
        """Flags of forward value i as it enters a gate of op `op`."""
        f = self.fflag[i]
        if f & _WRONG and self.fnear and self.fnear.get(i, 0) & _FEED_MASKS.get(op, 0):
            f |= _FEED
        return f

    def _carry(self, key: _Key, flags: int, sources: tuple[_Key, ...]) -> int:
        """Mark a blank that matches the student's own numbers (and not the reference);
        its flags as a source."""
        # Many blanks follow from the same numbers (every sink of a final sum from its
        # gradient): their marks are the same, made once.
        how = flags & (_BLOCK | _ERR)
        mark = self._carried.get((how, sources))
        if mark is None:
            mark = self._carried[(how, sources)] = self._carried_mark(how, sources)
        self.marks[key] = mark
        if how & _BLOCK:
            return _DIFF | _ERR | _WRONG | _TAINT
        return _DIFF | _WRONG | (how & _ERR)

    def _carried_mark(self, flags: int, sources: tuple[_Key, ...]) -> _Mark:
        if flags & _BLOCK:  # only ever set on values wrong by an error
            if flags & _ZERO:
                why = feedback.WHY_WRONG_ZERO
            elif flags & _UNIT:
                why = feedback.WHY_WRONG_UNIT
            elif flags & _FEED:
                why = feedback.WHY_DEGENERATE_FEED
            else:
                why = feedback.WHY_TAINTED
            return _Mark("incorrect", None,
                         feedback.no_carried_credit(self._describe(sources), why),
                         sources=sources, err=True)
        if flags & _ERR:
            message = feedback.consistent_after_error(self._describe(sources))
        else:
            message = feedback.consistent_after_rounding(self._describe(sources, rounded=True))
        return _Mark("consistent", message=message, sources=sources, err=bool(flags & _ERR))

    def _describe(self, sources: Sequence[_Key], *, rounded: bool = False) -> str:
        """"your value of p0", "your values of df/ds and dn/ds": where a value came from."""
        return feedback.your_values([self.plan.key_label(key) for key in sources],
                                    forward_value=sources[0][0] == "forward", rounded=rounded)

    def _wrong(self, key: _Key, k: int, x: float, low: float, high: float,
               expected: float | None, blank: WrongBlank | None = None) -> _Mark:
        """An incorrect blank: diagnosed, or too coarse, or plainly wrong (told the rule
        of its kind of blank)."""
        if blank is not None:
            found = diagnose(blank, self.policy.mistakes)
            if found is not None:
                return _Mark("incorrect", found[0], found[1], err=True)
        if x != 0.0:  # (a typed 0 carries no digits to judge)
            allow = self.plan.allow[k]
            if is_insufficient_precision(x, low, high, allow) or (
                    expected is not None
                    and is_insufficient_precision(x, expected, expected, allow)):
                return _COARSE_MARK
        return self.plan.rule_mark(key)

    # -------------------------------------------------------- local gradients

    def _reference_local(self, c: int, j: int) -> tuple[float, float, float]:
        """The reference d c / d j, and its valid range (that point away from a kink)."""
        plan = self.plan
        found = self._ref_local.get(c)
        if found is None:
            # What Solution.local_gradients gives, from the values already at hand.
            op = plan.ops[c]
            assert op is not None
            ref = self.ref_value
            slot_locals = local_gradients(op, [ref[i] for i in plan.ins[c]], ref[c],
                                          plan.params[c])
            found = self._ref_local[c] = {
                i: sum(slot_locals[s] for s in slots) for i, slots in plan.slots[c].items()}
        point = found[j]
        ranges = self.solution.local_ranges
        if not ranges:  # no kink in this variant: the common case
            return point, point, point
        return (point, *ranges.get((plan.names[c], plan.names[j]), (point, point)))

    def _own_locals(self, c: int) -> dict[int, _OwnLocal] | None:
        """Gate c's local gradients at the student's forward values (None where the op
        is undefined there), computed once per gate."""
        if c in self._own:
            return self._own[c]
        self._own[c] = found = self._compute_own_locals(c)
        return found

    def _compute_own_locals(self, c: int) -> dict[int, _OwnLocal] | None:
        plan = self.plan
        op = plan.ops[c]
        assert op is not None
        ins = plan.ins[c]
        params = plan.params[c]
        xs = [self.fv[i] for i in ins]
        y = self.fv[c]
        try:
            y_eval = evaluate(op, xs, params)
            # The student reads the gate's output off their own forward pass (e^x is
            # their e); an output that cannot be used (max of a value not among its
            # inputs) falls back to the output of their inputs.
            try:
                slot_locals = local_gradients(op, xs, y, params)
            except (ArithmeticError, ValueError):
                y = y_eval
                slot_locals = local_gradients(op, xs, y, params)
            y_read = bool(self.fflag[c] & _DIFF) and y != y_eval and (
                slot_locals != local_gradients(op, xs, y_eval, params))
            choices = None
            if op.kink is not None:
                choices = op.kink(xs[0] if op.unary else tuple(xs), y_eval, params)
        except (ArithmeticError, ValueError):
            return None
        if not math.isfinite(sum(slot_locals)):
            return None
        found: dict[int, _OwnLocal] = {}
        fflag = self.fflag
        reads = plan.reads[c]
        for j, slots in plan.slots[c].items():
            mine = tuple([slot_locals[s] for s in slots])
            point = sum(mine)
            low = high = point
            if choices is not None:
                sums = [sum(choice[s] for s in slots) for choice in choices]
                low, high = min(sums), max(sums)
            flags = 0
            sources: list[_Key] = []
            for s in reads[j]:
                i = ins[s]
                if fflag[i] & _DIFF and ("forward", i, -1) not in sources:
                    flags |= self._feed_flags(i, op.name)
                    sources.append(("forward", i, -1))
            if y_read:
                flags |= fflag[c]
                sources.append(("forward", c, -1))
            found[j] = _OwnLocal(point, low, high, mine, flags, tuple(sources))
        return found

    def _locals(self, c: int) -> None:
        """Gate c's local blanks, one per distinct input."""
        typed = self.typed_local.get(c)
        if typed is None:
            for _, key in self.plan.local_keys[c]:
                self.marks[key] = _MISSING_MARK
            return
        for j, key in self.plan.local_keys[c]:
            self._local(c, j, key, typed.get(j, _MISSING))

    def _local(self, c: int, j: int, key: _Key, raw: Any) -> None:
        x = raw if type(raw) is float and raw - raw == 0.0 else self._read(key, raw)
        if x is None:
            return
        self.lv[(c, j)] = x
        plan = self.plan
        constant = plan.constant_locals[c]
        if constant is not None:
            # The same for everyone (1 for add): right, or wrong, never carried.
            point = low = high = constant[j]
            closeness_ = plan.compare[c](x, point, point)
            if closeness_ != FAR:
                self.marks[key] = _CORRECT_MARK
                self.lflag[(c, j)] = 0 if closeness_ == SAME else _DIFF
                return
        else:
            point, low, high = self._reference_local(c, j)
            found, _ = self._verdict(key, x, low, high, point)
            if found is not None:
                if found & _WRONG_BY_ERROR == _WRONG_BY_ERROR:
                    found = self._gradient_flags(c, found, x, low, high, local=True)
                self.lflag[(c, j)] = found
                return
        self.lflag[(c, j)] = flags = self._gradient_flags(c, _DIFF | _ERR | _WRONG, x, low,
                                                          high, local=True)
        # Diagnosed unless no hypothesis can tell this wrong value apart (a wrong zero),
        # or the numbers the hypotheses would use are degenerate.
        blank = None
        own = None
        if applicable(self.policy.mistakes, plan.local_ops[c], zero=bool(flags & _ZERO)):
            own = (self._own_locals(c) or {}).get(j)
            if own is not None and not own.flags & _BLOCK:
                blank = self._wrong_blank("local", c, j, x, own.point,
                                          (self._edge(c, j, own, 1.0),), (low, high),
                                          (own.low, own.high), bool(flags & _ZERO))
        elif constant is None:
            own = (self._own_locals(c) or {}).get(j)
        expected = point if constant is not None else own.point if own else None
        self.marks[key] = self._wrong(key, c, x, low, high, expected, blank)

    def _gate_after_error(self, c: int) -> bool:
        """Whether a forward value gate c's local gradients read traces to an error."""
        fflag = self.fflag
        return bool(fflag[c] & _ERR) or any(fflag[i] & _ERR for i in self.plan.distinct[c])

    def _gradient_flags(self, k: int, flags: int, x: float, low: float, high: float, *,
                        local: bool = False) -> int:
        """A gradient's flags as a source, with whether it is degenerate: wrong by an
        error, and 0 (it zeroes everything it is multiplied into) or, for a local
        gradient, 1 (it passes the upstream gradient on unchanged), within the tolerance
        of node k, where the reference range [low, high] is not. A right 0 (0.00 for
        -4.5e-5) is no error and blocks nothing."""
        if flags & _WRONG_BY_ERROR == _WRONG_BY_ERROR:
            compare = self.plan.compare[k]
            if x == 0.0 or compare(x, 0.0, 0.0) != FAR:
                if compare(0.0, low, high) == FAR:
                    flags |= _ZERO
            elif local and compare(x, 1.0, 1.0) != FAR and compare(1.0, low, high) == FAR:
                flags |= _UNIT
        return flags

    # -------------------------------------------------------- backward blanks

    def _backward(self, k: int) -> None:
        key = ("backward", k, -1)
        raw = self.typed_backward.get(k, _MISSING)
        x = raw if type(raw) is float and raw - raw == 0.0 else self._read(key, raw)
        if x is None:
            return
        self.gv[k] = x
        plan = self.plan
        ref = self.ref_grad[k]
        low, high = self._grad_range(k)
        flags, expectations = self._verdict(key, x, low, high, ref)
        if flags is not None:
            if flags & _WRONG_BY_ERROR == _WRONG_BY_ERROR:
                flags = self._gradient_flags(k, flags, x, low, high)
            self.gflag[k] = flags
            return
        self.gflag[k] = flags = self._gradient_flags(k, _DIFF | _ERR | _WRONG, x, low, high)
        zero = bool(flags & _ZERO)
        if k == plan.output:
            blank = None
            if applicable(self.policy.mistakes, _NO_OPS, zero=zero):
                blank = self._wrong_blank("backward", k, -1, x, 1.0, (), (low, high),
                                          (1.0, 1.0), zero)
            self.marks[key] = self._wrong(key, k, x, low, high, None, blank)
            return
        consumers = plan.consumers[k]
        own = expectations[0] if expectations else None
        blank = None
        # Diagnosed unless the numbers the hypotheses would use are degenerate, or none
        # can tell this wrong value (a wrong zero) apart.
        if own is not None and not own[2] & _BLOCK and applicable(
                self.policy.mistakes, plan.consumer_ops_of(k), zero=zero):
            own_locals = [(self._own_locals(c) or {}).get(k) for c in consumers]
            if all(o is not None for o in own_locals):
                edges = tuple(self._edge(c, k, o, self.gv[c])  # type: ignore[arg-type]
                              for c, o in zip(consumers, own_locals, strict=True))
                blank = self._wrong_blank("backward", k, -1, x, own[4], edges, (low, high),
                                          (own[0], own[1]), zero)
        self.marks[key] = self._wrong(key, k, x, low, high, own[4] if own else None, blank)

    def _grad_range(self, k: int) -> tuple[float, float]:
        """The valid range of df/dk: the reference, or at a kink every valid subgradient."""
        ref = self.ref_grad[k]
        if not self.grad_ranges:  # no kink in this variant: the common case
            return ref, ref
        return self.grad_ranges.get(self.plan.names[k], (ref, ref))

    def _expected_gradients(self, k: int) -> list[_Expectation | None]:
        """df/dk from the student's own upstream gradients and local gradients: those
        evaluated at their forward values, and (when they typed any) their typed ones."""
        low = high = point = 0.0
        flags = 0
        sources: list[_Key] = []
        # The same with the typed local gradients, where there are any.
        lv = self.lv
        typed_any = False
        t_low = t_high = t_point = 0.0
        t_flags = 0
        t_sources: list[_Key] = []
        own_ok = True
        for c in self.plan.consumers[k]:
            up = self.gv[c]
            f = self.gflag[c]
            if f & _DIFF:
                flags |= f
                t_flags |= f
                sources.append(("backward", c, -1))
                t_sources.append(("backward", c, -1))
            if up == 0.0:
                continue  # nothing flows back through c, whatever its local gradient
            own = (self._own_locals(c) or {}).get(k)
            if own is None:
                own_ok = False
            else:
                a, b = up * own.low, up * own.high
                low += a if a < b else b
                high += b if a < b else a
                point += up * own.point
                if own.flags:
                    flags |= own.flags
                    sources += [s for s in own.sources if s not in sources]
            typed = lv.get((c, k)) if lv else None
            if typed is not None:
                typed_any = True
                a = up * typed
                t_low += a
                t_high += a
                t_point += a
                f = self.lflag[(c, k)]
                if f & _DIFF:
                    t_flags |= f
                    t_sources.append(("local", c, k))
            elif own is not None:
                a, b = up * own.low, up * own.high
                t_low += a if a < b else b
                t_high += b if a < b else a
                t_point += up * own.point
                if own.flags:
                    t_flags |= own.flags
                    t_sources += [s for s in own.sources if s not in t_sources]
            else:
                typed_any = False  # no number to compare with either way
                break
        found: list[_Expectation | None] = [
            (low, high, flags, tuple(sources), point)
            if own_ok and math.isfinite(low + high + point) else None]
        if typed_any and math.isfinite(t_low + t_high + t_point):
            found.append((t_low, t_high, t_flags, tuple(t_sources), t_point))
        return found

    # -------------------------------------------------------- diagnosis context

    def _edge(self, c: int, j: int, own: _OwnLocal, upstream: float) -> Edge:
        plan = self.plan
        op = plan.ops[c]
        assert op is not None
        fv = self.fv
        return Edge(plan.names[c], op.name, plan.params[c], plan.input_names[c],
                    tuple([fv[i] for i in plan.ins[c]]), fv[c], plan.slots[c][j],
                    own.slot_locals, upstream)

    def _wrong_blank(self, kind: str, k: int, j: int, x: float, expected: float,
                     edges: tuple[Edge, ...], ref_range: tuple[float, float],
                     own_range: tuple[float, float], zero: bool) -> WrongBlank:
        allow = self.plan.allow[k]
        compare = self.plan.compare[k]

        def fits(value: float) -> bool:
            # A hypothesis explains the typed value only if it is not itself a right
            # answer (where a mistake changes nothing, there is nothing to diagnose).
            if not math.isfinite(value) or abs(x - value) > allow(value) + (
                    NOISE_REL * max(abs(x), abs(value)) + NOISE_ABS):
                return False  # the common case, first and fast
            return (compare(value, *ref_range) == FAR
                    and compare(value, *own_range) == FAR)

        names = self.plan.names
        return WrongBlank(
            kind=kind, node=names[k], input=names[j] if j >= 0 else None,
            output=names[self.plan.output], value=x, forward_value=self.fv[k],
            expected=expected, edges=edges, fits=fits, zero=zero)

    # -------------------------------------------------------- the result

    def _result(self) -> GradeResult:
        plan = self.plan
        policy = self.policy
        top = {kind: policy.points(kind) for kind in ("forward", "backward", "local")}
        share = policy.consistent_share
        # The results every submission shares (right, missing, plainly wrong) are made
        # once per exercise; the others here.
        correct, missing, plainly_wrong = plan.results_of(
            (top["forward"], top["backward"], top["local"]))
        rule_marks = plan.rule_marks
        labels = plan.labels
        marks = [self.marks[key] for key in plan.order]
        blanks: list[BlankResult] = []
        carried_at: list[int] = []  # consistent blanks resting on an error: capped below
        total = own = carried = 0.0
        for n, (key, mark) in enumerate(zip(plan.order, marks, strict=True)):
            points = top[key[0]]
            total += points
            if mark is _CORRECT_MARK:
                own += points
                blanks.append(correct[n])
            elif mark is _MISSING_MARK:
                blanks.append(missing[n])
            elif mark is rule_marks.get(key):
                found = plainly_wrong.get(n)
                if found is None:
                    kind, node, input_ = labels[n]
                    found = plainly_wrong[n] = BlankResult(
                        kind, node, input_, "incorrect", 0.0, points, None, mark.message)
                blanks.append(found)
            else:
                kind, node, input_ = labels[n]
                status = mark.status
                earned = 0.0
                if status == "correct":
                    earned = points
                    own += points
                elif status == "consistent":
                    earned = points * share
                    if mark.err:
                        carried += earned
                        carried_at.append(n)
                    else:
                        own += earned
                        earned = round(earned, 6)
                blanks.append(BlankResult(kind, node, input_, status, earned, points,
                                          mark.mistake, mark.message))
        # Carried credit lifts the score at most up to the cap, and never lowers what
        # the student earned on their own.
        cap = policy.carried_cap
        if cap is None:  # what one incorrect blank (the one worth least) leaves
            cap = 1.0 - plan.least_points(policy) / total if total > 0 else 1.0
        allowed = min(carried, max(0.0, cap * total - own))
        if carried_at:
            factor = allowed / carried if carried else 0.0
            for n in carried_at:
                blanks[n] = blanks[n]._replace(points=round(blanks[n].points * factor, 6))
        score = round((own + allowed) / total, 6) if total > 0 else 0.0
        return GradeResult(min(score, 1.0), tuple(blanks), self._first_error(marks),
                           plan.names[plan.output])

    def _first_error(self, marks: list[_Mark]) -> FirstError | None:
        start = next((n for n, m in enumerate(marks) if m.status == "incorrect"), None)
        if start is None:
            return None
        order = self.plan.order
        names = self.plan.names
        reached = {order[start]}
        into: list[BlankRef] = []
        # Work order puts every source before the blanks computed from it: one sweep.
        for key, mark in zip(order[start + 1:], marks[start + 1:], strict=True):
            if mark.sources and not reached.isdisjoint(mark.sources):
                reached.add(key)
                if mark.status != "correct":  # right despite it: passed through, not hit
                    into.append(_ref(key, names))
        return FirstError(_ref(order[start], names), tuple(into))


def _ref(key: _Key, names: Sequence[str]) -> BlankRef:
    kind, k, j = key
    return BlankRef(kind, names[k], names[j] if j >= 0 else None)  # type: ignore[arg-type]


_MISSING: Any = object()


def _NOTHING_EXPECTED() -> list[_Expectation | None]:
    return []


def _NO_ERROR() -> bool:
    return False


# Shared, never changed: most blanks get one of these.
_CORRECT_MARK = _Mark("correct", message=feedback.CORRECT)
_COARSE_MARK = _Mark("incorrect", INSUFFICIENT_PRECISION, feedback.TOO_FEW_DIGITS, err=True)
_MISSING_MARK = _Mark("missing", message=feedback.MISSING)
