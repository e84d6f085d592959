"""The grading pass: `grade(solution, submission)` judges every blank, node by node.

It judges every blank the exercise asks for, in the order a student works: the forward
pass in topological order, then the backward pass from the output back (at each gate,
df/d(gate) and then the gate's local gradients, which its inputs' gradients need).

Each typed number is

* `correct` when it is within tolerance of the reference (any point of the valid range
  at a kink);
* `consistent` when it is not, but equals what the student's *own* numbers give
  (grader.scoring.own_numbers). At least one of those numbers must differ from the
  reference, or there is nothing carried. When they differ only because they were
  rounded (all right, within tolerance), the blank is consistent too, and told to keep
  more digits: 0.20 · 2 = 0.40 is not 0.3932 within 1 %, but it is no error. Nothing
  computed from a degenerate value earns carried credit (grader.scoring.anti_gaming);
* `incorrect` otherwise, diagnosed (grader.scoring.diagnosis: the mistakes that fit,
  weighed across blanks once all are read), or flagged as the right value rounded too
  far to be judged (insufficient precision: never an integer, never a value a mistake
  explains). A submission whose wrong 0s or 1s are one named slip, or whose forward
  values fill several gradient blanks, is graded a second time with that known from
  the start (grader.scoring.anti_gaming);
* `missing` (no key) or `invalid` (a format error: not graded). Later blanks are then
  checked against the reference value of the missing one.

The marks of the blanks become points, a score and the first error in
grader.scoring.tally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine import Solution
from grader.scoring import feedback
from grader.scoring.anti_gaming import degenerate_gradient, why_no_carried_credit
from grader.scoring.diagnosis import Diagnoser
from grader.scoring.marks import CORRECT_MARK, INSUFFICIENT_PRECISION, MISSING_MARK, Mark
from grader.scoring.mistakes import WrongBlank, applicable
from grader.scoring.own_numbers import OwnNumbers
from grader.scoring.plan import NO_OPS, Plan, plan_for
from grader.scoring.results import DEFAULT_POLICY, GradeResult, ScoringPolicy
from grader.scoring.submission import FormatError, Submission, parse_submission, read_number
from grader.scoring.tally import tally
from grader.scoring.tolerance import FAR, SAME, digits_asked, is_insufficient_precision
from grader.scoring.trace import (
    BLOCKED,
    CARRIED_BLOCKED,
    CARRIED_ERROR,
    CARRIED_ROUNDING,
    DIFFERS_BY_ERROR,
    UNEXPLAINED_BLANK,
    UNTRACED,
    WRONG_BLANK,
    WRONG_BY_ERROR,
    BlankKey,
    Expectation,
    Trace,
)


def grade(
    solution: Solution,
    submission: Submission | Mapping[str, Any],
    *,
    policy: ScoringPolicy = DEFAULT_POLICY,
) -> GradeResult:
    """Score a submission against a variant's reference solution, blank by blank.

    A mapping is parsed first (SubmissionError when it does not fit the exercise).
    """
    exercise = solution.exercise
    if not isinstance(submission, Submission):
        submission = parse_submission(submission, exercise)
    return Grading(plan_for(exercise), solution, submission, policy).run()


_DEGENERATE = Trace.ZERO | Trace.UNIT | Trace.ONE  # what a wrong 0 or 1 is noted as


_MISSING: Any = object()  # no key for the blank in the submission
_DECIDES_CARRIED_MARK = BLOCKED | Trace.FROM_ERROR  # what a carried blank's mark says


class Grading:
    """One submission graded: the student's numbers, and a mark for every blank."""

    __slots__ = ("_carried", "blocked", "degenerate_slips", "diagnoser", "exempt", "marks",
                 "numbers", "plan", "policy", "regraded", "solution", "submission",
                 "typed_backward", "typed_forward", "typed_local")

    def __init__(self, plan: Plan, solution: Solution, submission: Submission,
                 policy: ScoringPolicy, exempt: frozenset[BlankKey] = frozenset(),
                 blocked: frozenset[BlankKey] | None = None) -> None:
        self.plan = plan
        self.policy = policy
        self.solution = solution
        self.submission = submission
        # Incorrect blanks holding a wrong 0 or 1 (what the gaming guard blocks), and
        # those a regrading lets through as one named slip (see `run`).
        self.degenerate_slips: list[BlankKey] = []
        self.exempt = exempt
        # Blanks a pattern of shortcuts makes sources of no carried credit (see `run`).
        self.regraded = blocked is not None
        self.blocked = blocked or frozenset()
        self.numbers = OwnNumbers(plan, solution)
        self.diagnoser = Diagnoser(plan, self.numbers, policy.mistakes)
        index = solution.exercise.graph.index
        self.typed_forward = {index[k]: v for k, v in submission.forward.items()}
        self.typed_backward = {index[k]: v for k, v in submission.backward.items()}
        self.typed_local: dict[int, dict[int, Any]] = {}
        for (c, j), v in submission.local.items():
            self.typed_local.setdefault(index[c], {})[index[j]] = v
        self.marks: dict[BlankKey, Mark] = {}
        # Marks of blanks carried from the same numbers, made once (see _carry).
        self._carried: dict[tuple[Trace, tuple[BlankKey, ...]], Mark] = {}

    def run(self) -> GradeResult:
        """Mark every blank in working order, then tally the marks."""
        plan = self.plan
        if self.all_close():
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
        self.diagnoser.resolve(self.marks)
        if not self.regraded:
            exempt, blocked = self._named_slips(), self._copied_forward_values()
            if exempt or blocked:
                # Graded again with those slips named from the start: what follows from
                # them is carried like what follows from any named slip, but nothing
                # follows from a shortcut taken in several places.
                return Grading(plan, self.solution, self.submission, self.policy,
                               exempt, blocked).run()
        return tally(plan, self.policy, self.marks)

    def _copied_forward_values(self) -> frozenset[BlankKey]:
        """Incorrect gradient blanks holding their node's forward value, when several
        may be named so: copying forward values is a shortcut, not a slip, and what
        happens to follow from them (a × by ±1 makes df/dw = w) earns nothing, nor from
        the blanks no rule names that hold one too. One such blank is an honest slip."""
        marks = self.marks
        # (named so, or found swapped with another such blank; not a value another rule
        # names that happens to equal it)
        named = [suspect.key for suspect in self.diagnoser.suspects
                 if marks[suspect.key].mistake in ("forward-as-gradient", "swapped-blanks")
                 and any(d.code == "forward-as-gradient" for d in suspect.found)]
        if len(named) < 2:
            return frozenset()
        numbers = self.numbers
        compare = self.plan.compare
        for key, mark in marks.items():
            if mark.status != "incorrect" or mark.mistake is not None or key.kind == "forward":
                continue
            typed = numbers.gradients[key.node] if key.kind == "backward" else (
                numbers.local_values.get((key.node, key.input)))
            value = numbers.forward_values[key.node]
            if typed is not None and compare[key.node](typed, value, value) != FAR and (
                    compare[key.node](typed, 0.0, 0.0) == FAR):  # (a wrong 0: blocked)
                named.append(key)
        return frozenset(named)

    def _named_slips(self) -> frozenset[BlankKey]:
        """The slips to grade again as named ones, when that changes anything:

        * wrong 0s and 1s typed as one slip a named mistake explains (at one gate: a rule
          taken for the whole gate gives each input its 1; or a pair of swapped blanks).
          Such a value is an honest slip, not a pattern typed to make the rest trivial
          (1 for every local gradient, zeros everywhere), which stays blocked;
        * two blanks found swapped only once every blank was read, when a value carried
          from them was refused credit as following from an unexplained slip.
        """
        marks = self.marks
        swapped = [s.key for s in self.diagnoser.suspects
                   if marks[s.key].mistake == "swapped-blanks"]
        slips = self.degenerate_slips
        places = set()
        for key in slips:
            mark = marks[key]
            if not self._explained(mark) or self.diagnoser.whole_gate_alone(
                    key, mark.mistake or "", marks):
                return frozenset()
            places.add(self.diagnoser.place(key, mark.mistake or ""))
        if len(places) > 1:
            return frozenset()
        if not slips and not (swapped and any(
                m.status == "incorrect" and m.sources for m in marks.values())):
            return frozenset()
        return frozenset((*slips, *swapped))

    def _all_correct_result(self) -> GradeResult:
        return tally(self.plan, self.policy, dict.fromkeys(self.plan.order, CORRECT_MARK))

    def all_close(self) -> bool:
        """Whether every blank holds a finite number within tolerance of its valid
        range. Then no blank is wrong, so none is computed from an error, and each is
        correct: what the full run would find, without its expectations and traces. The
        usual submission; any other takes the full run."""
        plan = self.plan
        compare = plan.compare
        numbers = self.numbers
        if "forward" in plan.ask:
            typed, reference = self.typed_forward, numbers.reference_values
            for k in plan.gates:
                x = typed.get(k)
                if type(x) is not float or x - x != 0.0 or (
                        compare[k](x, reference[k], reference[k]) == FAR):
                    return False
        if "backward" in plan.ask:
            typed = self.typed_backward
            for k in range(len(plan.names)):
                x = typed.get(k)
                if type(x) is not float or x - x != 0.0:
                    return False
                low, high = numbers.grad_range(k)
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
                for key in keys:
                    x = typed_at.get(key.input)
                    if type(x) is not float or x - x != 0.0:
                        return False
                    if constant is not None:
                        low = high = constant[key.input]
                    else:
                        _, low, high = numbers.reference_local(c, key.input)
                    if compare[c](x, low, high) == FAR:
                        return False
        return True

    # -------------------------------------------------------- reading and comparing

    def _read(self, key: BlankKey, raw: Any) -> float | None:
        """The typed number, or None after marking the blank missing or invalid. (The
        common case, a finite float, is taken by the callers first.)"""
        if raw is _MISSING:
            self.marks[key] = MISSING_MARK
            return None
        value = read_number(raw)
        if isinstance(value, FormatError):
            self.marks[key] = Mark("invalid", message=feedback.format_error(value.message))
            return None
        return value

    def _verdict(self, key: BlankKey, x: float, low: float, high: float, point: float,
                 ) -> tuple[Trace | None, list[Expectation | None]]:
        """Judge a typed number against the valid range [low, high] (the reference
        `point`, but at a kink every valid subgradient): mark it when it is right or
        carried and return its trace as a source, with the expectations computed from
        the student's own numbers; (None, expectations) when it is wrong, for the
        caller to explain.
        """
        compare = self.plan.compare[key.node]
        closeness = compare(x, low, high)
        if closeness == SAME and (low == high or compare(x, point, point) == SAME):
            self.marks[key] = CORRECT_MARK
            return UNTRACED, []
        if closeness != FAR and not self.numbers.after_error(key):
            # Right, rounded, or another valid subgradient at a kink: nothing to carry
            # but digits (or the choice made at the kink).
            self.marks[key] = CORRECT_MARK
            return Trace.DIFFERS, []
        expectations = self.numbers.expect(key)
        matches = [e for e in expectations if e is not None and Trace.DIFFERS in e.trace
                   and compare(x, e.low, e.high) != FAR]
        if closeness != FAR:
            # Right, but not the reference's own number: rounded, another choice at a
            # kink, or shifted by an earlier error it was computed from. Only the latter
            # is carried further.
            carried = next((e for e in matches
                            if Trace.FROM_ERROR in e.trace and not e.trace & BLOCKED), None)
            if carried is None:
                self.marks[key] = CORRECT_MARK
                return Trace.DIFFERS, expectations
            self.marks[key] = Mark("correct", message=feedback.correct(), sources=carried.sources)
            return DIFFERS_BY_ERROR, expectations
        if matches:
            # Unblocked credit first; among blocked ones, the first reason in Trace order.
            best = matches[0] if len(matches) == 1 else min(
                matches, key=lambda e: first_blocking_reason(e.trace))
            return self._carry(key, best.trace, best.sources), expectations
        return None, expectations

    def _carry(self, key: BlankKey, trace: Trace, sources: tuple[BlankKey, ...]) -> Trace:
        """Mark a blank that matches the student's own numbers (and not the reference);
        its trace as a source (unexplained when any slip it follows from is)."""
        # Many blanks follow from the same numbers (every sink of a final sum from its
        # gradient): their marks are the same, made once.
        how = trace & _DECIDES_CARRIED_MARK
        mark = self._carried.get((how, sources))
        if mark is None:
            mark = self._carried[(how, sources)] = self._carried_mark(how, sources)
        self.marks[key] = mark
        if how & BLOCKED:
            return CARRIED_BLOCKED
        if Trace.FROM_ERROR in how:
            return CARRIED_ERROR | (trace & Trace.UNEXPLAINED)
        return CARRIED_ROUNDING

    def _carried_mark(self, how: Trace, sources: tuple[BlankKey, ...]) -> Mark:
        if how & BLOCKED:  # only ever set on values wrong by an error
            return Mark("incorrect", None, feedback.no_carried_credit(
                self._describe(sources), why_no_carried_credit(how)),
                sources=sources, from_error=True)
        if Trace.FROM_ERROR in how:
            return Mark("consistent", message=feedback.consistent_after_error(
                self._describe(sources)), sources=sources, from_error=True)
        return Mark("consistent", message=feedback.consistent_after_rounding(
            self._describe(sources, rounded=True)), sources=sources)

    def _describe(self, sources: tuple[BlankKey, ...], *, rounded: bool = False) -> str:
        """"your value of p0", "your values of df/ds and dn/ds": where a value came from."""
        return feedback.your_values([self.plan.key_label(key) for key in sources],
                                    forward_value=sources[0].kind == "forward",
                                    rounded=rounded)

    def _wrong(self, key: BlankKey, x: float, low: float, high: float,
               own: Expectation | None, blank: WrongBlank | None = None) -> Mark:
        """An incorrect blank: diagnosed, or the right value rounded too far, or plainly
        wrong (told the rule of its kind of blank)."""
        if blank is not None:
            found = self.diagnoser.try_blank(key, blank)
            if found:
                return Mark("incorrect", found[0].code, found[0].message, from_error=True)
        if x != 0.0:  # (a typed 0 carries no digits to judge)
            allowance = self.plan.allowance[key.node]
            if is_insufficient_precision(x, low, high, allowance):
                return self._too_coarse(key, x, low, high)
            if own is not None and is_insufficient_precision(x, own.point, own.point,
                                                             allowance):
                return self._too_coarse(key, x, own.point, own.point)
        return self.plan.rule_mark(key)

    def _too_coarse(self, key: BlankKey, x: float, low: float, high: float) -> Mark:
        reference = low if x < low else high if x > high else x
        decimals, sigfigs = digits_asked(self.plan.tolerance[key.node], reference)
        return Mark("incorrect", INSUFFICIENT_PRECISION,
                    feedback.too_few_digits(decimals, sigfigs), from_error=True)

    @staticmethod
    def _explained(mark: Mark) -> bool:
        """Whether a named mistake explains an incorrect blank (its consequences are a
        conceptual slip's, not a choice's: see grader.scoring.anti_gaming)."""
        return mark.mistake is not None and mark.mistake != INSUFFICIENT_PRECISION

    # -------------------------------------------------------- the three kinds of blank

    def _forward(self, k: int) -> None:
        plan = self.plan
        key = plan.forward_keys[k]
        raw = self.typed_forward.get(k, _MISSING)
        x = raw if type(raw) is float and raw - raw == 0.0 else self._read(key, raw)
        if x is None:
            return
        numbers = self.numbers
        numbers.forward_values[k] = x
        reference = numbers.reference_values[k]
        trace, expectations = self._verdict(key, x, reference, reference, reference)
        if trace is not None:
            numbers.forward_traces[k] = trace
            if WRONG_BY_ERROR in trace and Trace.UNEXPLAINED in trace:
                numbers.note_near(k, x, reference)
            return
        own = expectations[0] if expectations else None
        blank = None
        if own is None or not own.trace & BLOCKED:
            compare = plan.compare[k]
            zero = compare(x, 0.0, 0.0) != FAR and compare(reference, 0.0, 0.0) == FAR
            if applicable(self.policy.mistakes, plan.local_ops[k], zero=zero,
                          kind="forward"):
                expected = reference if own is None else own.point
                own_range = (reference, reference) if own is None else (own.low, own.high)
                blank = self.diagnoser.wrong_blank(
                    key, x, expected, (self.diagnoser.gate_edge(k),), (reference, reference),
                    own_range, zero, 0.0 if own is None else own.spread)
        mark = self.marks[key] = self._wrong(key, x, reference, reference, own, blank)
        numbers.forward_traces[k] = WRONG_BLANK if self._explained(mark) or (
            key in self.exempt) else UNEXPLAINED_BLANK
        if key not in self.exempt:
            numbers.note_near(k, x, reference)
            if k in numbers.near:
                self.degenerate_slips.append(key)

    def _backward(self, k: int) -> None:
        plan = self.plan
        key = plan.backward_keys[k]
        raw = self.typed_backward.get(k, _MISSING)
        x = raw if type(raw) is float and raw - raw == 0.0 else self._read(key, raw)
        if x is None:
            return
        numbers = self.numbers
        numbers.gradients[k] = x
        low, high = numbers.grad_range(k)
        compare = plan.compare[k]
        trace, expectations = self._verdict(key, x, low, high,
                                            numbers.reference_gradients[k])
        if trace is not None:
            numbers.gradient_traces[k] = degenerate_gradient(trace, x, low, high, compare,
                                                             carried=True)
            return
        trace = degenerate_gradient(WRONG_BLANK, x, low, high, compare)
        zero = Trace.ZERO in trace
        own = None
        blank = None
        if k == plan.output:
            if applicable(self.policy.mistakes, NO_OPS, zero=zero):
                blank = self.diagnoser.wrong_blank(key, x, 1.0, (), (low, high), (1.0, 1.0),
                                                   zero)
        else:
            consumers = plan.consumers[k]
            own = expectations[0] if expectations else None
            # Diagnosed unless the numbers the hypotheses would use are degenerate, or
            # none can tell this wrong value (a wrong zero) apart.
            if own is not None and not own.trace & BLOCKED and applicable(
                    self.policy.mistakes, plan.consumer_ops_of(k), zero=zero):
                own_locals = [(numbers.own_locals(c) or {}).get(k) for c in consumers]
                edges = tuple(self.diagnoser.edge(c, k, local, numbers.gradients[c])
                              for c, local in zip(consumers, own_locals, strict=True)
                              if local is not None)
                if len(edges) == len(consumers):
                    blank = self.diagnoser.wrong_blank(key, x, own.point, edges, (low, high),
                                                       (own.low, own.high), zero, own.spread)
        mark = self.marks[key] = self._wrong(key, x, low, high, own, blank)
        numbers.gradient_traces[k] = self._slip_trace(key, trace, mark)

    def _locals(self, c: int) -> None:
        """Gate c's local blanks, one per distinct input."""
        typed = self.typed_local.get(c)
        if typed is None:
            for key in self.plan.local_keys[c]:
                self.marks[key] = MISSING_MARK
            return
        for key in self.plan.local_keys[c]:
            self._local(key, typed.get(key.input, _MISSING))

    def _local(self, key: BlankKey, raw: Any) -> None:
        x = raw if type(raw) is float and raw - raw == 0.0 else self._read(key, raw)
        if x is None:
            return
        _, c, j = key
        numbers = self.numbers
        numbers.local_values[(c, j)] = x
        plan = self.plan
        compare = plan.compare[c]
        constant = plan.constant_locals[c]
        if constant is not None:
            # The same for everyone (1 for add): right, or wrong, never carried.
            point = low = high = constant[j]
            closeness = compare(x, point, point)
            if closeness != FAR:
                self.marks[key] = CORRECT_MARK
                numbers.local_traces[(c, j)] = UNTRACED if closeness == SAME else Trace.DIFFERS
                return
        else:
            point, low, high = numbers.reference_local(c, j)
            found, _ = self._verdict(key, x, low, high, point)
            if found is not None:
                numbers.local_traces[(c, j)] = degenerate_gradient(
                    found, x, low, high, compare, local=True, carried=True)
                return
        trace = degenerate_gradient(WRONG_BLANK, x, low, high, compare, local=True)
        zero = Trace.ZERO in trace
        # Diagnosed unless no hypothesis can tell this wrong value apart (a wrong zero),
        # or the numbers the hypotheses would use are degenerate.
        blank = None
        tried = applicable(self.policy.mistakes, plan.local_ops[c], zero=zero, kind="local")
        own = (numbers.own_locals(c) or {}).get(j) if tried or constant is None else None
        if own is not None and not own.trace & BLOCKED and tried:
            edge = self.diagnoser.edge(c, j, own, numbers.gradients[c])
            blank = self.diagnoser.wrong_blank(key, x, own.point, (edge,), (low, high),
                                               (own.low, own.high), zero, own.spread)
        expected = own.expectation() if own is not None and constant is None else None
        mark = self.marks[key] = self._wrong(key, x, low, high, expected, blank)
        numbers.local_traces[(c, j)] = self._slip_trace(key, trace, mark)

    def _slip_trace(self, key: BlankKey, trace: Trace, mark: Mark) -> Trace:
        """An incorrect gradient's trace as a source: unexplained unless a named mistake
        explains it; a wrong 0 or 1 noted, and let through when exempt."""
        if trace & _DEGENERATE:
            if key in self.exempt:
                trace &= WRONG_BLANK
            else:
                self.degenerate_slips.append(key)
        if key in self.blocked:
            trace |= Trace.PATTERN
        return trace if self._explained(mark) else trace | Trace.UNEXPLAINED


def first_blocking_reason(trace: Trace) -> int:
    """The lowest blocking flag of a trace (0 when nothing blocks): orders candidates by
    their first reason in Trace order, whatever other reasons they carry."""
    blocked = (trace & BLOCKED).value
    return blocked & -blocked
