"""The per-exercise plan: what grading needs from an exercise, by node position, made
once per exercise and shared by every submission to it.

It holds the graph by position (ops, inputs, the slots each input fills, the slots each
local gradient reads), each node's tolerance as a comparator, the blanks in working
order, and what every submission shares: the mark of a plainly wrong blank (the rule of
its kind), the results of blanks right or missing, the result of a submission right
throughout. What holds a text is kept per language (grader.i18n's current one).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import NamedTuple

from engine import Exercise, Tolerance
from engine.ops import Op, local_gradients
from grader.i18n import current_language
from grader.scoring import feedback
from grader.scoring.marks import Mark
from grader.scoring.results import KINDS, BlankRef, BlankResult, GradeResult, ScoringPolicy
from grader.scoring.tolerance import Allowance, Comparator, allowance_for, comparator_for
from grader.scoring.trace import BlankKey

NO_OPS: frozenset[str] = frozenset()


class SharedResults(NamedTuple):
    """Results every submission shares, by position in working order."""

    correct: list[BlankResult]
    missing: list[BlankResult]
    plainly_wrong: dict[int, BlankResult]  # made on first use


class Plan:
    """What grading needs from an exercise, by node position, computed once."""

    __slots__ = (
        "__weakref__",
        "all_correct_results",
        "allowance",
        "ask",
        "backward_keys",
        "compare",
        "constant_locals",
        "consumer_ops",
        "consumers",
        "distinct_inputs",
        "forward_keys",
        "gates",
        "input_names",
        "input_slots",
        "inputs",
        "key_labels",
        "kinds",
        "local_keys",
        "local_ops",
        "n_inputs",
        "names",
        "ops",
        "order",
        "output",
        "params",
        "refs",
        "rule_marks",
        "shared_results",
        "slots_read",
        "tolerance",
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
        self.inputs: list[tuple[int, ...]] = [graph.inputs_of(k) for k in range(n)]
        self.input_names: list[tuple[str, ...]] = [
            tuple(self.names[i] for i in inputs) for inputs in self.inputs]
        self.params: list[Mapping[str, float]] = [{}] * self.n_inputs + [
            dict(g.params) for g in exercise.gates]
        self.distinct_inputs: list[tuple[int, ...]] = [
            tuple(dict.fromkeys(inputs)) for inputs in self.inputs]
        self.input_slots: list[dict[int, tuple[int, ...]]] = [
            _slots_of(inputs) for inputs in self.inputs]
        self.slots_read: list[dict[int, tuple[int, ...]]] = [
            {j: _slots_read(op, slots, len(inputs)) for j, slots in by_input.items()}
            if op is not None else {}
            for op, inputs, by_input in zip(self.ops, self.inputs, self.input_slots,
                                            strict=True)]
        # Local gradients that read no value (add, sub, neg, scale, add_const), by input:
        # the same for the reference and the student, so never carried.
        self.constant_locals: list[dict[int, float] | None] = [None] * n
        for k in self.gates:
            op = self.ops[k]
            if op is not None and op.constant_local:
                inputs = self.inputs[k]
                slot_locals = local_gradients(op, [0.0] * len(inputs), 0.0, self.params[k])
                self.constant_locals[k] = {j: sum(slot_locals[s] for s in slots)
                                           for j, slots in self.input_slots[k].items()}
        self.consumers: list[tuple[int, ...]] = [
            tuple(dict.fromkeys(c for c, _ in graph.consumers(k))) for k in range(n)]
        # The ops a gradient flows back through, for choosing the hypotheses to try (of
        # the consumers: on first use).
        self.local_ops: list[frozenset[str]] = [
            NO_OPS if op is None else _op_set(op.name) for op in self.ops]
        self.consumer_ops: dict[int, frozenset[str]] = {}
        # One allowance per tolerance object: most nodes share the exercise's.
        by_tolerance: dict[int, tuple[Tolerance, Allowance, Comparator]] = {}
        self.tolerance: list[Tolerance] = []
        self.allowance: list[Allowance] = []
        self.compare: list[Comparator] = []
        for name in self.names:
            shared = id(exercise.node_tolerances.get(name))
            found = by_tolerance.get(shared)
            if found is None:
                tolerance = exercise.tolerance_for(name)
                found = by_tolerance[shared] = (tolerance, allowance_for(tolerance),
                                                comparator_for(tolerance))
            tolerance, allowance, compare = found
            self.tolerance.append(tolerance)
            self.allowance.append(allowance)
            self.compare.append(compare)
        # Every blank's key, made once: grading looks them up by node.
        self.forward_keys = [BlankKey("forward", k, -1) for k in range(n)]
        self.backward_keys = [BlankKey("backward", k, -1) for k in range(n)]
        self.local_keys: list[tuple[BlankKey, ...]] = [
            tuple(BlankKey("local", k, j) for j in self.distinct_inputs[k]) for k in range(n)]
        # Blanks in working order: the forward pass, then the backward pass from the
        # output back, each gate's local gradients right after its own gradient.
        self.order: list[BlankKey] = []
        if "forward" in self.ask:
            self.order += [self.forward_keys[k] for k in self.gates]
        for k in reversed(self.gates):
            if "backward" in self.ask:
                self.order.append(self.backward_keys[k])
            if "local" in self.ask:
                self.order += self.local_keys[k]
        if "backward" in self.ask:
            self.order += [self.backward_keys[k] for k in range(self.n_inputs)]
        self.refs: list[BlankRef] = [self.ref(key) for key in self.order]
        self.kinds = frozenset(key.kind for key in self.order)
        # Made on first use, then shared by every submission, per language: how a blank
        # is named, the mark of a plainly wrong one (the rule of its kind), and the
        # results of blanks with such shared marks.
        self.key_labels: dict[str, dict[BlankKey, str]] = {}
        self.rule_marks: dict[str, dict[BlankKey, Mark]] = {}
        self.shared_results: dict[tuple[tuple[float, ...], str], SharedResults] = {}
        self.all_correct_results: dict[tuple[ScoringPolicy, str], GradeResult] = {}

    def ref(self, key: BlankKey) -> BlankRef:
        """The blank by name."""
        names = self.names
        return BlankRef(key.kind, names[key.node], names[key.input] if key.input >= 0 else None)

    def consumer_ops_of(self, k: int) -> frozenset[str]:
        """The ops of the gates node k feeds."""
        found = self.consumer_ops.get(k)
        if found is None:
            found = self.consumer_ops[k] = frozenset().union(
                *(self.local_ops[c] for c in self.consumers[k]))
        return found

    def key_label(self, key: BlankKey) -> str:
        """How the blank is named to a student, in the current language."""
        labels = self.key_labels.setdefault(current_language(), {})
        found = labels.get(key)
        if found is None:
            ref = self.ref(key)
            found = labels[key] = feedback.blank_label(
                ref.kind, ref.node, ref.input, self.names[self.output])
        return found

    def rule_marks_now(self) -> dict[BlankKey, Mark]:
        """The marks of plainly wrong blanks made so far in the current language."""
        return self.rule_marks.setdefault(current_language(), {})

    def rule_mark(self, key: BlankKey) -> Mark:
        """The mark of a plainly wrong blank: the rule of its kind of blank."""
        marks = self.rule_marks_now()
        found = marks.get(key)
        if found is None:
            found = marks[key] = Mark("incorrect", message=self._rule(key), from_error=True)
        return found

    def all_correct(self, policy: ScoringPolicy,
                    make: Callable[[], GradeResult]) -> GradeResult:
        """The result of a submission right throughout, made once per policy and
        language and shared (a result is never changed)."""
        key = (policy, current_language())
        found = self.all_correct_results.get(key)
        if found is None:
            if len(self.all_correct_results) > 8:  # many policies: keep a few
                self.all_correct_results.clear()
            found = self.all_correct_results[key] = make()
        return found

    def results_of(self, points: tuple[float, float, float]) -> SharedResults:
        """The results of blanks right, missing, or plainly wrong (by position in working
        order), for these points per kind (forward, backward, local), in the current
        language: the same for every submission."""
        key = (points, current_language())
        found = self.shared_results.get(key)
        if found is None:
            if len(self.shared_results) > 8:  # many policies: keep a few
                self.shared_results.clear()
            top = dict(zip(KINDS, points, strict=True))
            right, empty = feedback.correct(), feedback.missing()
            found = self.shared_results[key] = SharedResults(
                [BlankResult(ref.kind, ref.node, ref.input, "correct", top[ref.kind],
                             top[ref.kind], None, right) for ref in self.refs],
                [BlankResult(ref.kind, ref.node, ref.input, "missing", 0.0, top[ref.kind],
                             None, empty) for ref in self.refs],
                {})
        return found

    def least_points(self, policy: ScoringPolicy) -> float:
        """The points of the blank worth least."""
        return min(map(policy.points, self.kinds), default=0.0)

    def _rule(self, key: BlankKey) -> str:
        kind, k, j = key
        names = self.names
        name = names[k]
        op = self.ops[k]
        if kind == "forward":
            assert op is not None
            return feedback.rule_forward(name, op.name, self.input_names[k], self.params[k])
        if kind == "local":
            assert op is not None
            return feedback.rule_local(name, op.name, self.input_names[k], self.params[k],
                                       names[j])
        output = names[self.output]
        if k == self.output:
            return feedback.rule_output_gradient(name)
        consumers = self.consumers[k]
        if len(consumers) == 1:
            return feedback.rule_one_consumer(output, name, names[consumers[0]])
        return feedback.rule_many_consumers(output, name, [names[c] for c in consumers])


def _slots_of(inputs: tuple[int, ...]) -> dict[int, tuple[int, ...]]:
    """Input node -> the slots it fills (two for x in x·x), in one pass: a final sum
    may have thousands of inputs."""
    slots: dict[int, list[int]] = {}
    for slot, i in enumerate(inputs):
        slots.setdefault(i, []).append(slot)
    return {i: tuple(found) for i, found in slots.items()}


def _slots_read(op: Op, slots: tuple[int, ...], arity: int) -> tuple[int, ...]:
    """Which input slots the local gradient for `slots` reads (so a degenerate value it
    does not read cannot block credit)."""
    read: set[int] = set()
    for slot in slots:  # a node in two slots (x·x) is read through each of them
        read.update(op.slots_read(slot, arity))
    return tuple(sorted(read))


_OP_SETS: dict[str, frozenset[str]] = {}


def _op_set(op: str) -> frozenset[str]:
    """{op}, one shared set per op: the hypotheses to try are remembered by set."""
    found = _OP_SETS.get(op)
    if found is None:
        found = _OP_SETS[op] = frozenset((op,))
    return found


_plans: weakref.WeakKeyDictionary[Exercise, Plan] = weakref.WeakKeyDictionary()


def plan_for(exercise: Exercise) -> Plan:
    """The exercise's plan, made on first use and kept while the exercise lives."""
    plan = _plans.get(exercise)
    if plan is None:
        plan = _plans[exercise] = Plan(exercise)
    return plan
