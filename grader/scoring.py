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

Carried credit is guarded: a value that differs from the reference and is degenerate
(a gradient of 0, or a forward value of 0 or 1 entering mul, div or scale) makes what
follows trivial, so nothing consistent with it earns credit, and neither does anything
consistent with *that* (the taint follows the chain). And however it is earned, credit
carried from an incorrect blank lifts a score at most up to `ScoringPolicy.carried_cap`.

`first_error` is the first incorrect blank in working order, the one to fix first: an
error in the forward pass changes what follows it, an error in the backward pass what
lies before it, and the working order visits every blank after those it is computed
from. It lists the blanks its wrong value was carried into.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from engine import Exercise, Solution
from engine.ops import Op, evaluate, local_gradients
from grader.mistakes import MISTAKES, Edge, Mistake, WrongBlank, diagnose
from grader.submission import (
    FieldError,
    FormatError,
    Submission,
    SubmissionError,
    parse_submission,
    read_number,
)
from grader.tolerance import (
    CLOSE,
    FAR,
    NOISE_ABS,
    NOISE_REL,
    SAME,
    Allowance,
    Comparator,
    allowance_for,
    comparator_for,
    float_slack,
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

# A wrong forward value among these, entering a gate of this op, makes the gate's
# output and local gradients trivial (0·y = 0, 1·y = y, 0/y = 0, y/1 = y, a·0, a·1).
DEGENERATE_FEEDS: Mapping[str, tuple[float, ...]] = {
    "mul": (0.0, 1.0),
    "div": (0.0, 1.0),
    "scale": (0.0, 1.0),
}

INSUFFICIENT_PRECISION = "insufficient-precision"

# Flags of a number used to compute an expectation.
_DIFF = 1  # differs from the reference: there is something to carry
_ERR = 2  # traces back to an incorrect blank (not just to rounding)
# No carried credit through this number, and why:
_ZERO = 4  # a wrong gradient (or local gradient) of 0: everything it multiplies is 0
_FEED = 8  # a wrong 0 or 1 entering mul, div or scale: the gate's output is trivial
_TAINT = 16  # it matched the student's numbers only through a degenerate one
_BLOCK = _ZERO | _FEED | _TAINT


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    """How points are given.

    `consistent_share` (default 1): the share of a blank's points a consistent blank
    earns; 1 makes one slip cost one blank, the issue's default.

    `carried_cap` (default 0.9): the highest score credit carried from an incorrect
    blank can lift a submission to; blanks right on their own always count in full. The
    degenerate-value guard stops the known ways of gaming carried credit; the cap bounds
    what any unforeseen one can earn, and keeps a submission that rests on a wrong
    early value from ever equalling a right one. At 0.9 a slip whose consequences fill
    the graph costs at most a tenth, about what one blank of a ten-to-twenty-blank
    exercise costs, and a late slip (little carried) is not touched by it.

    `forward_points`, `backward_points`, `local_points` (default 1 each): a blank's
    points by kind, to weigh the kinds against each other. `mistakes`: the diagnosis
    hypotheses, in the order they are tried.
    """

    consistent_share: float = 1.0
    carried_cap: float = 0.9
    forward_points: float = 1.0
    backward_points: float = 1.0
    local_points: float = 1.0
    mistakes: tuple[Mistake, ...] = MISTAKES

    def __post_init__(self) -> None:
        if not 0.0 <= self.consistent_share <= 1.0:
            raise ValueError("consistent_share must be within [0, 1]")
        if not 0.0 <= self.carried_cap <= 1.0:
            raise ValueError("carried_cap must be within [0, 1]")
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

    def label(self, blank: BlankRef | BlankResult) -> str:
        """How a blank is named to a student: "p0", "df/dp0", "dp0/dx0"."""
        return _label(blank.kind, blank.node, blank.input, self.output)

    def summary(self) -> str:
        """One sentence: where to start fixing."""
        if self.has_format_errors:
            n = len(self.format_errors)
            return (f"{n} blank{' holds' if n == 1 else 's hold'} no number: fix the format "
                    "errors and submit again; nothing was graded.")
        if self.first_error is None:
            missing = sum(b.status == "missing" for b in self.blanks)
            rounded = sum(b.status == "consistent" for b in self.blanks)
            if missing:
                return f"Nothing typed is wrong; {missing} blank(s) left to fill."
            if rounded:
                return (f"Nothing is wrong; {rounded} value(s) follow from rounded numbers: "
                        "keep more digits.")
            return "Every blank is right."
        first = self.first_error
        result = next(b for b in self.blanks if b.ref == first.blank)
        carried = len(first.propagated_into)
        tail = f" It carried into {carried} later blank{'s' if carried != 1 else ''}." if (
            carried) else ""
        return f"Start fixing here: {self.label(first.blank)} ({first.blank.kind}): " + (
            f"{result.message}.{tail}")


DEFAULT_POLICY = ScoringPolicy()


def _label(kind: str, node: str, input_: str | None, output: str) -> str:
    if kind == "forward":
        return node
    if kind == "backward":
        return f"d{output}/d{node}"
    return f"d{node}/d{input_}"


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
        "allow",
        "ask",
        "compare",
        "consumers",
        "distinct",
        "gates",
        "input_names",
        "ins",
        "labels",
        "n_inputs",
        "names",
        "ops",
        "order",
        "output",
        "params",
        "reads",
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
            {j: _slots_read(op.name, slots, len(ins)) for j, slots in by_input.items()}
            if op is not None else {}
            for op, ins, by_input in zip(self.ops, self.ins, self.slots, strict=True)]
        self.consumers: list[tuple[int, ...]] = [
            tuple(dict.fromkeys(c for c, _ in graph.consumers(k))) for k in range(n)]
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


def _slots_of(ins: tuple[int, ...]) -> dict[int, tuple[int, ...]]:
    """Input node -> the slots it fills (two for x in x·x), in one pass: a final sum
    may have thousands of inputs."""
    slots: dict[int, list[int]] = {}
    for slot, i in enumerate(ins):
        slots.setdefault(i, []).append(slot)
    return {i: tuple(found) for i, found in slots.items()}


def _slots_read(op: str, slots: tuple[int, ...], arity: int) -> tuple[int, ...]:
    """Which input slots the local gradient for `slots` reads, for the ops known to read
    fewer than all (so a degenerate value it does not read cannot block credit)."""
    if op in ("add", "sub", "neg", "scale", "add_const"):
        return ()
    read: set[int] = set()
    for slot in slots:  # a node in two slots (x·x) is read through each of them
        if op == "mul":  # d(a·b)/da = b
            read.update(s for s in range(arity) if s != slot)
        elif op == "div":  # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
            read.update((1,) if slot == 0 else (0, 1))
        else:
            read.update(range(arity))
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


@dataclass(slots=True)
class _OwnLocal:
    """A gate's local gradient for one input, at the student's own forward values."""

    point: float
    low: float
    high: float
    slot_locals: tuple[float, ...]
    flags: int
    sources: tuple[tuple[str, int, int], ...]


_Key = tuple[str, int, int]  # (kind, node position, input position or -1)
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
        self.typed_local = {(index[c], index[j]): v for (c, j), v in submission.local.items()}
        # Working numbers: what the student typed where it is a number, else the reference.
        self.fv = list(self.ref_value)
        self.fflag = [0] * len(names)
        self.gv = list(self.ref_grad)
        self.gflag = [0] * len(names)
        self.lv: dict[tuple[int, int], float] = {}
        self.lflag: dict[tuple[int, int], int] = {}
        self.marks: dict[_Key, _Mark] = {}
        self._own: dict[int, dict[int, _OwnLocal] | None] = {}
        self._ref_local: dict[int, dict[int, float]] = {}

    def run(self) -> GradeResult:
        plan = self.plan
        if "forward" in plan.ask:
            for k in plan.gates:
                self._forward(k)
        if "backward" in plan.ask or "local" in plan.ask:
            for k in reversed(plan.gates):
                if "backward" in plan.ask:
                    self._backward(k)
                if "local" in plan.ask:
                    for j in plan.distinct[k]:
                        self._local(k, j)
            if "backward" in plan.ask:
                for k in range(plan.n_inputs):
                    self._backward(k)
        return self._result()

    # -------------------------------------------------------- reading and comparing

    def _read(self, key: _Key, raw: Any) -> float | None:
        """The typed number, or None after marking the blank missing or invalid."""
        if type(raw) is float and raw - raw == 0.0:  # the common case, fast: finite float
            return raw
        if raw is _MISSING:
            self.marks[key] = _MISSING_MARK
            return None
        value = read_number(raw)
        if isinstance(value, FormatError):
            self.marks[key] = _Mark("invalid", message=f"format error: {value.message}; "
                                                       "not graded")
            return None
        return value

    def _close(self, k: int, x: float, low: float, high: float) -> bool:
        return self.plan.compare[k](x, low, high) != FAR

    def _verdict(
        self, key: _Key, k: int, x: float, low: float, high: float,
        expect: Callable[[], list[_Expectation | None]], after_error: Callable[[], bool],
    ) -> tuple[int | None, list[_Expectation | None]]:
        """Judge a typed number: mark it when it is right or carried and return its flags
        as a source, with the expectations computed from the student's own numbers;
        (None, expectations) when it is wrong, for the caller to explain.

        `after_error` tells cheaply whether any number the blank is computed from traces
        back to an incorrect blank; when none does, a right number needs no expectation.
        """
        closeness_ = self.plan.compare[k](x, low, high)
        if closeness_ == SAME:
            self.marks[key] = _CORRECT_MARK
            return 0, []
        if closeness_ == CLOSE and not after_error():
            self.marks[key] = _CORRECT_MARK  # right, rounded: nothing to carry but digits
            return _DIFF, []
        expectations = expect()
        matches = [e for e in expectations if e is not None and e[2] & _DIFF
                   and self._close(k, x, e[0], e[1])]
        if closeness_ == CLOSE:
            # Right, but not the reference's own number: rounded, or shifted by an
            # earlier error it was computed from. Only the latter is carried further.
            carried = next((e for e in matches if e[2] & _ERR and not e[2] & _BLOCK), None)
            if carried is None:
                self.marks[key] = _CORRECT_MARK
                return _DIFF, expectations
            self.marks[key] = _Mark("correct", message="correct", sources=carried[3])
            return _DIFF | _ERR, expectations
        if matches:
            best = min(matches, key=lambda e: e[2] & _BLOCK)  # unblocked credit first
            return self._carry(key, best[2], best[3]), expectations
        return None, expectations

    # -------------------------------------------------------- forward blanks

    def _forward(self, k: int) -> None:
        key = ("forward", k, -1)
        x = self._read(key, self.typed_forward.get(k, _MISSING))
        if x is None:
            return
        self.fv[k] = x
        ref = self.ref_value[k]
        flags, expectations = self._verdict(
            key, k, x, ref, ref, lambda: [self._expected_forward(k)],
            lambda: any(self.fflag[i] & _ERR for i in self.plan.distinct[k]))
        if flags is not None:
            self.fflag[k] = flags
            return
        self.fflag[k] = _DIFF | _ERR
        plan = self.plan
        op = plan.ops[k]
        assert op is not None
        expected = expectations[0][4] if expectations and expectations[0] else None
        inputs = ", ".join(plan.names[i] for i in plan.ins[k])
        rule = (f"recompute {plan.names[k]} = {op.name}({inputs}) from the values of "
                "its inputs")
        self.marks[key] = self._wrong(k, x, ref, ref, expected, rule)

    def _expected_forward(self, k: int) -> _Expectation | None:
        """The gate applied to the student's own values of its inputs."""
        plan = self.plan
        op = plan.ops[k]
        assert op is not None
        flags = 0
        sources: list[_Key] = []
        for i in plan.distinct[k]:
            f = self._feed_flags(i, op.name)
            if f & _DIFF:
                flags |= f
                sources.append(("forward", i, -1))
        if not flags & _DIFF:
            return None  # the reference's own inputs: nothing to carry
        try:
            value = evaluate(op, [self.fv[i] for i in plan.ins[k]], plan.params[k])
        except (ArithmeticError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        return value, value, flags, tuple(sources), value

    def _feed_flags(self, i: int, op: str) -> int:
        """Flags of forward value i as it enters a gate of op `op`."""
        f = self.fflag[i]
        if f & _DIFF and op in DEGENERATE_FEEDS and any(
                abs(self.fv[i] - v) <= float_slack(self.fv[i], v)
                for v in DEGENERATE_FEEDS[op]):
            f |= _FEED
        return f

    def _carry(self, key: _Key, flags: int, sources: tuple[_Key, ...]) -> int:
        """Mark a blank that matches the student's own numbers; its flags as a source."""
        if flags & _BLOCK:
            mistake = None
            where = self._describe(sources)
            if not flags & _ERR:  # a right but rounded 0, carried until it is not right
                message = (f"follows from {self._describe(sources, rounded=True)}, rounded to "
                           "zero or one: too coarse to carry; keep more digits")
                mistake = INSUFFICIENT_PRECISION
            elif flags & _ZERO:
                message = (f"follows from {where}, but a wrong zero gradient makes every "
                           "gradient before it zero: no carried credit")
            elif flags & _FEED:
                message = (f"follows from {where}, but a wrong zero or one entering mul, div "
                           "or scale makes the gate trivial: no carried credit")
            else:
                message = (f"follows from {where}, which itself follows from a degenerate "
                           "value: no carried credit")
            self.marks[key] = _Mark("incorrect", mistake, message, sources=sources, err=True)
            return _DIFF | _ERR | _TAINT
        err = bool(flags & _ERR)
        if err:
            message = f"consistent with {self._describe(sources)} (error carried forward)"
        else:
            message = (f"consistent with {self._describe(sources, rounded=True)}: keep more "
                       "digits to match the reference directly")
        self.marks[key] = _Mark("consistent", message=message, sources=sources, err=err)
        return _DIFF | (_ERR if err else 0)

    def _describe(self, sources: Sequence[_Key], *, rounded: bool = False) -> str:
        """"your value of p0", "your values of df/ds and dn/ds": where a value came from."""
        names = self.plan.names
        output = names[self.plan.output]
        labels = [_label(kind, names[k], names[j] if j >= 0 else None, output)
                  for kind, k, j in sources]
        if len(labels) > 3:
            labels = [*labels[:2], f"{len(labels) - 2} more"]
        shown = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
        adjective = "rounded " if rounded else ""
        if len(sources) == 1:
            return f"your {adjective}{'value of ' if sources[0][0] == 'forward' else ''}{shown}"
        return f"your {adjective}values of {shown}"

    def _wrong(self, k: int, x: float, low: float, high: float, expected: float | None,
               rule: str, blank: WrongBlank | None = None) -> _Mark:
        """An incorrect blank: diagnosed, or too coarse, or plainly wrong."""
        if blank is not None:
            found = diagnose(blank, self.policy.mistakes)
            if found is not None:
                return _Mark("incorrect", found[0], found[1], err=True)
        allow = self.plan.allow[k]
        coarse = is_insufficient_precision(x, low, high, allow) or (
            expected is not None and is_insufficient_precision(x, expected, expected, allow))
        if coarse:
            return _Mark("incorrect", INSUFFICIENT_PRECISION, (
                "insufficient precision: too few digits to judge within the tolerance; keep "
                "three significant figures or more, in the values you compute with too"),
                err=True)
        return _Mark("incorrect", message=rule, err=True)

    # -------------------------------------------------------- local gradients

    def _reference_local(self, c: int, j: int) -> tuple[float, float]:
        """The valid range of d c / d j (one point away from a kink)."""
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
            return point, point
        return ranges.get((plan.names[c], plan.names[j]), (point, point))

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
        for j, slots in plan.slots[c].items():
            mine = tuple(slot_locals[s] for s in slots)
            point = sum(mine)
            low = high = point
            if choices is not None:
                sums = [sum(choice[s] for s in slots) for choice in choices]
                low, high = min(sums), max(sums)
            flags = 0
            sources: list[_Key] = []
            for s in plan.reads[c][j]:
                i = ins[s]
                f = self._feed_flags(i, op.name)
                if f & _DIFF and ("forward", i, -1) not in sources:
                    flags |= f
                    sources.append(("forward", i, -1))
            if y_read:
                flags |= self.fflag[c]
                sources.append(("forward", c, -1))
            found[j] = _OwnLocal(point, low, high, mine, flags, tuple(sources))
        return found

    def _local(self, c: int, j: int) -> None:
        key = ("local", c, j)
        x = self._read(key, self.typed_local.get((c, j), _MISSING))
        if x is None:
            return
        self.lv[(c, j)] = x
        low, high = self._reference_local(c, j)

        def expect() -> list[_Expectation | None]:
            own = (self._own_locals(c) or {}).get(j)
            if own is None:
                return [None]
            return [(own.low, own.high, own.flags, own.sources, own.point)]

        flags, _ = self._verdict(key, c, x, low, high, expect, lambda: self._gate_after_error(c))
        if flags is not None:
            self.lflag[(c, j)] = self._gradient_flags(flags, x)
            return
        self.lflag[(c, j)] = self._gradient_flags(_DIFF | _ERR, x)
        names = self.plan.names
        op = self.plan.ops[c]
        assert op is not None
        own = (self._own_locals(c) or {}).get(j)
        blank = None
        if own is not None:
            blank = self._wrong_blank("local", c, j, x, own.point, (self._edge(c, j, own, 1.0),),
                                      (low, high), (own.low, own.high))
        rule = f"differentiate {names[c]} ({op.name}) with respect to {names[j]}"
        self.marks[key] = self._wrong(c, x, low, high, own.point if own else None, rule, blank)

    def _gate_after_error(self, c: int) -> bool:
        """Whether a forward value gate c's local gradients read traces to an error."""
        fflag = self.fflag
        return bool(fflag[c] & _ERR) or any(fflag[i] & _ERR for i in self.plan.distinct[c])

    @staticmethod
    def _gradient_flags(flags: int, x: float) -> int:
        # A gradient that differs from the reference and is 0 zeroes everything it is
        # multiplied into: carrying it would make the rest of the backward pass trivial.
        if flags & _DIFF and -NOISE_ABS <= x <= NOISE_ABS:
            flags |= _ZERO
        return flags

    # -------------------------------------------------------- backward blanks

    def _backward(self, k: int) -> None:
        key = ("backward", k, -1)
        x = self._read(key, self.typed_backward.get(k, _MISSING))
        if x is None:
            return
        self.gv[k] = x
        plan = self.plan
        name = plan.names[k]
        ref = self.ref_grad[k]
        low, high = self.solution.grad_ranges.get(name, (ref, ref))

        def expect() -> list[_Expectation | None]:
            if k == plan.output:
                return []  # df/df is 1 whatever came before: nothing to carry
            found = [self._expected_gradient(k, typed_locals=False)]
            if "local" in plan.ask and any((c, k) in self.lv for c in plan.consumers[k]):
                found.append(self._expected_gradient(k, typed_locals=True))
            return found

        def after_error() -> bool:
            lflag = self.lflag
            return any(self.gflag[c] & _ERR or self._gate_after_error(c)
                       or lflag.get((c, k), 0) & _ERR for c in plan.consumers[k])

        flags, expectations = self._verdict(key, k, x, low, high, expect, after_error)
        if flags is not None:
            self.gflag[k] = self._gradient_flags(flags, x)
            return
        self.gflag[k] = self._gradient_flags(_DIFF | _ERR, x)
        output = plan.names[plan.output]
        if k == plan.output:
            blank = self._wrong_blank("backward", k, -1, x, 1.0, (), (low, high), (1.0, 1.0))
            self.marks[key] = self._wrong(
                k, x, low, high, None,
                f"the backward pass starts here: what is the derivative of {name} "
                "with respect to itself?", blank)
            return
        consumers = plan.consumers[k]
        if len(consumers) == 1:
            c = plan.names[consumers[0]]
            rule = (f"d{output}/d{name} = d{output}/d{c} · (the local gradient of {c} "
                    f"with respect to {name})")
        else:
            rule = (f"d{output}/d{name} is the sum over the gates {name} feeds "
                    f"({', '.join(plan.names[c] for c in consumers)}) of upstream gradient "
                    "· local gradient")
        own = expectations[0] if expectations else None
        blank = None
        if own is not None:
            own_locals = [(self._own_locals(c) or {}).get(k) for c in consumers]
            if all(o is not None for o in own_locals):
                edges = tuple(self._edge(c, k, o, self.gv[c])  # type: ignore[arg-type]
                              for c, o in zip(consumers, own_locals, strict=True))
                blank = self._wrong_blank("backward", k, -1, x, own[4], edges, (low, high),
                                          (own[0], own[1]))
        self.marks[key] = self._wrong(k, x, low, high, own[4] if own else None, rule, blank)

    def _expected_gradient(self, k: int, *, typed_locals: bool) -> _Expectation | None:
        """df/dk from the student's own upstream gradients and local gradients (their
        typed ones, or evaluated at their forward values)."""
        low = high = point = 0.0
        flags = 0
        sources: list[_Key] = []
        for c in self.plan.consumers[k]:
            up = self.gv[c]
            f = self.gflag[c]
            if f & _DIFF:
                flags |= f
                sources.append(("backward", c, -1))
            if up == 0.0:
                continue  # nothing flows back through c, whatever its local gradient
            typed = self.lv.get((c, k)) if typed_locals else None
            if typed is not None:
                d_low = d_high = d_point = typed
                f = self.lflag[(c, k)]
                if f & _DIFF:
                    flags |= f
                    sources.append(("local", c, k))
            else:
                own = (self._own_locals(c) or {}).get(k)
                if own is None:
                    return None
                d_low, d_high, d_point = own.low, own.high, own.point
                flags |= own.flags
                sources += [s for s in own.sources if s not in sources]
            a, b = up * d_low, up * d_high
            low += min(a, b)
            high += max(a, b)
            point += up * d_point
        if not math.isfinite(low + high + point):
            return None  # huge typed numbers overflowed: nothing to compare with
        return low, high, flags, tuple(sources), point

    # -------------------------------------------------------- diagnosis context

    def _edge(self, c: int, j: int, own: _OwnLocal, upstream: float) -> Edge:
        plan = self.plan
        op = plan.ops[c]
        assert op is not None
        fv = self.fv
        return Edge(
            consumer=plan.names[c], op=op.name, params=plan.params[c],
            inputs=plan.input_names[c], xs=tuple([fv[i] for i in plan.ins[c]]), y=fv[c],
            slots=plan.slots[c][j], slot_locals=own.slot_locals, upstream=upstream,
        )

    def _wrong_blank(self, kind: str, k: int, j: int, x: float, expected: float,
                     edges: tuple[Edge, ...], ref_range: tuple[float, float],
                     own_range: tuple[float, float]) -> WrongBlank:
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
            expected=expected, edges=edges, fits=fits)

    # -------------------------------------------------------- the result

    def _result(self) -> GradeResult:
        plan = self.plan
        policy = self.policy
        marks = [self.marks[key] for key in plan.order]
        top = {kind: policy.points(kind) for kind in ("forward", "backward", "local")}
        share = policy.consistent_share
        total = own = carried = 0.0
        for (kind, _, _), mark in zip(plan.order, marks, strict=True):
            total += top[kind]
            if mark.status == "correct":
                own += top[kind]
            elif mark.status == "consistent":
                if mark.err:
                    carried += top[kind] * share
                else:
                    own += top[kind] * share
        # Carried credit lifts the score at most up to the cap, and never lowers what
        # the student earned on their own.
        allowed = min(carried, max(0.0, policy.carried_cap * total - own))
        factor = allowed / carried if carried else 0.0
        blanks = []
        for (kind, node, input_), mark in zip(plan.labels, marks, strict=True):
            points = top[kind]
            if mark.status == "consistent":
                points = round(points * share * (factor if mark.err else 1.0), 6)
            elif mark.status != "correct":
                points = 0.0
            blanks.append(BlankResult(kind, node, input_, mark.status, points, top[kind],
                                      mark.mistake, mark.message))
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
            if mark.sources and any(s in reached for s in mark.sources):
                reached.add(key)
                if mark.status != "correct":  # right despite it: passed through, not hit
                    into.append(_ref(key, names))
        return FirstError(_ref(order[start], names), tuple(into))


def _ref(key: _Key, names: Sequence[str]) -> BlankRef:
    kind, k, j = key
    return BlankRef(kind, names[k], names[j] if j >= 0 else None)  # type: ignore[arg-type]


_MISSING: Any = object()
# Shared, never changed: most blanks get one of these.
_CORRECT_MARK = _Mark("correct", message="correct")
_MISSING_MARK = _Mark("missing", message="no value given")
