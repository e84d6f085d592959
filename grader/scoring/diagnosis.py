"""Naming the mistake behind each incorrect blank: what the hypotheses read about it,
and the choice among the mistakes that fit, once every blank is read.

During the grading pass each incorrect blank is tried against the registry
(grader.scoring.mistakes) at the student's own values; every hypothesis that fits is a
candidate, and the first one marks the blank. When the pass is over, the blanks are
weighed together:

* two blanks of the same kind that hold each other's values are `swapped-blanks`
  (unless one rule explains both: the two inputs of a × gate exchanged are its
  "switcher" forgotten, `mul-not-swapped`);
* among several candidates, one that also explains another wrong blank of the same gate
  (its other local gradients; the gradients of the gate's other inputs) is preferred;
  a rule about the whole gate (another gate's rule taken for it) is set aside when
  another blank of that gate is right, or wrong for another reason.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import NamedTuple

from engine.ops import evaluate
from grader.scoring.marks import Mark
from grader.scoring.mistakes import Diagnosis, Edge, Mistake, WrongBlank, candidates
from grader.scoring.own_numbers import OwnNumbers
from grader.scoring.plan import Plan
from grader.scoring.tolerance import FAR, NOISE_ABS, NOISE_REL, Allowance
from grader.scoring.trace import BlankKey, OwnLocal
from grader.scoring.wrong_blank import MOST_RELATIVE_SPREAD

SWAPPED = "swapped-blanks"
# A rule about a whole gate (another gate's rule taken for it) gives each of its inputs
# a wrong value, so a right blank of the same gate, or one wrong for another reason,
# speaks against it.
WHOLE_GATE = frozenset({"wrong-op-rule"})
# The rules that explain two blanks of one gate holding each other's values: the inputs
# of a × exchanged are its "switcher" forgotten, not a slip in typing.
GATE_RULES = WHOLE_GATE | {"mul-not-swapped"}

Group = tuple[str, int]  # ("local" or "backward", the gate whose blanks go together)


class Suspect(NamedTuple):
    """An incorrect blank that was tried against the mistakes."""

    key: BlankKey
    blank: WrongBlank
    found: tuple[Diagnosis, ...]
    group: Group | None


class Diagnoser:
    """The mistakes of one submission: the incorrect blanks tried, and the choice."""

    __slots__ = ("mistakes", "numbers", "plan", "suspects")

    def __init__(self, plan: Plan, numbers: OwnNumbers, mistakes: Sequence[Mistake]) -> None:
        self.plan = plan
        self.numbers = numbers
        self.mistakes = mistakes
        self.suspects: list[Suspect] = []

    # -------------------------------------------------------- during the pass

    def try_blank(self, key: BlankKey, blank: WrongBlank) -> tuple[Diagnosis, ...]:
        """The mistakes that explain a wrong blank, in registry order (kept for the
        choice at the end)."""
        found = candidates(blank, self.mistakes)
        self.suspects.append(Suspect(key, blank, found, self._group(key)))
        return found

    def edge(self, c: int, j: int, own: OwnLocal, upstream: float) -> Edge:
        """How gradient flows from gate c back to input j, at the student's values."""
        plan = self.plan
        op = plan.ops[c]
        assert op is not None
        values = self.numbers.forward_values
        return Edge(plan.names[c], op.name, plan.params[c], plan.input_names[c],
                    tuple([values[i] for i in plan.inputs[c]]), values[c],
                    plan.input_slots[c][j], own.slot_locals, upstream)

    def gate_edge(self, k: int) -> Edge:
        """Gate k itself at the student's input values (for its forward blank)."""
        plan = self.plan
        op = plan.ops[k]
        assert op is not None
        values = self.numbers.forward_values
        return Edge(plan.names[k], op.name, plan.params[k], plan.input_names[k],
                    tuple([values[i] for i in plan.inputs[k]]), values[k], (), (), 1.0)

    def wrong_blank(self, key: BlankKey, x: float, expected: float, edges: tuple[Edge, ...],
                    reference_range: tuple[float, float], own_range: tuple[float, float],
                    zero: bool, spread: float = 0.0) -> WrongBlank:
        """The blank as the hypotheses read it. `spread`: how far the rounding of the
        numbers it was computed from reaches (a mistake made with them reaches as far)."""
        kind, k, j = key
        plan = self.plan
        allowance = plan.allowance[k]
        compare = plan.compare[k]
        relative = min(spread / abs(expected), MOST_RELATIVE_SPREAD) if expected else 0.0

        def fits(value: float) -> bool:
            # A hypothesis explains the typed value only if it is not itself a right
            # answer (where a mistake changes nothing, there is nothing to diagnose).
            slack = spread if spread > relative * abs(value) else relative * abs(value)
            if not math.isfinite(value) or abs(x - value) > allowance(value) + slack + (
                    NOISE_REL * max(abs(x), abs(value)) + NOISE_ABS):
                return False  # the common case, first and fast
            return (compare(value, *reference_range) == FAR
                    and compare(value, *own_range) == FAR)

        names = plan.names
        return WrongBlank(
            kind=kind, node=names[k], input=names[j] if j >= 0 else None,
            output=names[plan.output], value=x,
            forward_value=self.numbers.forward_values[k], expected=expected, edges=edges,
            fits=fits, zero=zero, spread=spread)

    def _group(self, key: BlankKey) -> Group | None:
        kind, k, _ = key
        if kind == "local":
            return ("local", k)
        if kind == "backward":
            consumers = self.plan.consumers[k]
            if len(consumers) == 1:
                return ("backward", consumers[0])
        return None

    # -------------------------------------------------------- once every blank is read

    def resolve(self, marks: dict[BlankKey, Mark]) -> None:
        """Choose each suspect's mistake among its candidates, the blanks around it
        weighed in, and mark it."""
        suspects = self.suspects
        if not suspects:
            return
        chosen: dict[BlankKey, Diagnosis] = {}
        for a, b in self._swapped_pairs():
            shared = [d for d in a.found if d.code in GATE_RULES and a.group == b.group
                      and a.group is not None and d.code in {e.code for e in b.found}]
            if shared:  # one rule of their gate explains both (the × not swapped)
                chosen[a.key] = shared[0]
                chosen[b.key] = next(d for d in b.found if d.code == shared[0].code)
                continue
            for one, other in ((a, b), (b, a)):
                found = self._swapped(one, other)
                if found is not None:
                    chosen[one.key] = found
        by_group: dict[Group, list[Suspect]] = {}
        for s in suspects:
            if s.group is not None:
                by_group.setdefault(s.group, []).append(s)
        for s in suspects:
            if s.key in chosen or len(s.found) < 2:
                continue
            siblings = [t for t in by_group.get(s.group, ()) if t is not s] if s.group else []
            chosen[s.key] = self._prefer(s, siblings, marks)
        for key, found in chosen.items():
            mark = marks[key]
            if mark.mistake != found.code or mark.message != found.message:
                marks[key] = Mark("incorrect", found.code, found.message, from_error=True)

    def _prefer(self, s: Suspect, siblings: list[Suspect],
                marks: dict[BlankKey, Mark]) -> Diagnosis:
        """Among a blank's candidates: one that explains a wrong sibling too; else the
        first not contradicted (a rule about the whole gate is, when another blank of
        the gate is right, or wrong for another reason); else the first."""
        sibling_codes = [{d.code for d in t.found} for t in siblings]
        for d in s.found:
            if any(d.code in codes for codes in sibling_codes):
                return d
        contradicted = bool(siblings) or (s.group is not None
                                          and self._right_sibling(s, marks))
        if contradicted:
            for d in s.found:
                if d.code not in WHOLE_GATE:
                    return d
        return s.found[0]

    def _right_sibling(self, s: Suspect, marks: dict[BlankKey, Mark]) -> bool:
        """Whether another blank of the suspect's gate is right (or carried)."""
        return any(marks.get(key) is not None and marks[key].status in ("correct",
                                                                      "consistent")
                   for key in self.siblings(s.key))

    def siblings(self, key: BlankKey) -> list[BlankKey]:
        """The other blanks of the gate a blank belongs to: a gate's other local
        gradients; the gradients of the other inputs of a node's only consumer."""
        plan = self.plan
        group = self._group(key)
        if group is None:
            return []
        kind, c = group
        if kind == "local":
            return [k for k in plan.local_keys[c] if k != key]
        return [plan.backward_keys[i] for i in plan.distinct_inputs[c]
                if plan.backward_keys[i] != key and len(plan.consumers[i]) == 1]

    def place(self, key: BlankKey, code: str) -> object:
        """Where one slip is: a swapped pair is one slip, and so is a rule taken for a
        whole gate (the gate), or a gate's local gradients (the gate); else the blank."""
        if code == SWAPPED:
            return SWAPPED
        if code in WHOLE_GATE:
            return self._group(key) or key
        return ("local", key.node) if key.kind == "local" else key

    def whole_gate_alone(self, key: BlankKey, code: str, marks: dict[BlankKey, Mark]) -> bool:
        """Whether a rule about a whole gate names this blank but not the gate's other
        blanks (a lone 1 at a × is no "× taken as +")."""
        return code in WHOLE_GATE and any(
            marks.get(k) is None or marks[k].mistake != code for k in self.siblings(key))

    def _swapped(self, one: Suspect, other: Suspect) -> Diagnosis | None:
        for mistake in self.mistakes:
            if mistake.code == SWAPPED:
                one.blank.partner = self.plan.key_label(other.key)
                message = mistake.check(one.blank)
                return None if message is None else Diagnosis(SWAPPED, message)
        return None

    def _swapped_pairs(self) -> list[tuple[Suspect, Suspect]]:
        """Pairs of wrong blanks of one kind that hold each other's values: each is what
        belongs in the other (and the two differ). Found by sorting on the typed
        values, so a submission of many wrong blanks costs no square of them."""
        if not any(m.code == SWAPPED for m in self.mistakes):
            return []
        pool = sorted((s for s in self.suspects if not s.blank.zero),
                      key=lambda s: s.blank.value)
        values = [s.blank.value for s in pool]
        pairs: list[tuple[Suspect, Suspect]] = []
        paired: set[BlankKey] = set()
        for a in pool:
            if a.key in paired:
                continue
            want = a.blank.expected
            # a wide window: _holds decides
            reach = 2.0 * (_reach(self.plan.allowance[a.key.node], want) + a.blank.reach(want))
            start = bisect.bisect_left(values, want - reach)
            for b in pool[start:bisect.bisect_right(values, want + reach)]:
                if (b is a or b.key in paired or b.key.kind != a.key.kind
                        or not self._holds(a, b)):
                    continue
                pairs.append((a, b))
                paired.update((a.key, b.key))
                break
        return pairs

    def _holds(self, a: Suspect, b: Suspect) -> bool:
        """Whether each of a and b holds what the other should be."""
        want_a, want_b = self._belongs(a, b), self._belongs(b, a)
        reach_a, reach_b = a.blank.reach(want_a), b.blank.reach(want_b)
        compare_a, compare_b = self.plan.compare[a.key.node], self.plan.compare[b.key.node]
        return (compare_b(b.blank.value, want_a - reach_a, want_a + reach_a) != FAR
                and compare_a(a.blank.value, want_b - reach_b, want_b + reach_b) != FAR
                and compare_a(want_a, want_b, want_b) == FAR)

    def _belongs(self, one: Suspect, other: Suspect) -> float:
        """What belongs in one's blank, had the other blank held its right value, which
        is the value typed in one's place (a student who swapped two blanks computed
        each from the right one): for a forward value computed from the other's (s from
        p0), the gate applied with it; for a gradient computed from the other's (df/dp0
        from df/ds), the chain rule with it as that upstream gradient."""
        blank = one.blank
        kind, node = one.key.kind, one.key.node
        if kind != other.key.kind or kind == "local":
            return blank.expected
        if kind == "backward":
            through = [e for e in blank.edges if e.consumer == self.plan.names[other.key.node]]
            if not through:
                return blank.expected
            return sum((blank.value if e in through else e.upstream) * e.local
                       for e in blank.edges)
        edge = blank.edges[0]
        slots = self.plan.input_slots[node].get(other.key.node)
        if not slots:
            return blank.expected
        op = self.plan.ops[node]
        assert op is not None
        xs = [blank.value if s in slots else x for s, x in enumerate(edge.xs)]
        try:
            return evaluate(op, xs, edge.params)
        except (ArithmeticError, ValueError):
            return blank.expected


def _reach(allowance: Allowance, value: float) -> float:
    """How far from a value a typed number may be and still be taken for it."""
    return allowance(value) + NOISE_REL * abs(value) + NOISE_ABS
