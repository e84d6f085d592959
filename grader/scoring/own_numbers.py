"""The student's own numbers, and what they give for each blank (error carried forward).

A blank is consistent when it equals what the student's *own* numbers give: the gate
applied to their forward values of its inputs; for a gradient, the sum over the node's
consumers of their upstream gradient · the local gradient at their forward values (or ·
their own typed local gradient); for a local gradient, the op's local gradient at their
forward values. `OwnNumbers` keeps those numbers as grading reaches them (the typed
value where it is a number, else the reference), each with its `Trace`, and computes the
`Expectation`s of a blank from them: the value their typed numbers give, within the range
every value those numbers stand for gives (grader.scoring.precision), so a student who
keeps the digits and one who computes on from what they typed are both carried.
"""

from __future__ import annotations

import math

from engine import Solution
from engine.ops import Op, evaluate, local_gradients
from grader.scoring.anti_gaming import (
    NEAR_VALUES,
    NOTHING_NEAR,
    copies_a_wrong_one,
    feeds_degenerately,
    near_values,
    same_in_same_out,
)
from grader.scoring.plan import Plan
from grader.scoring.precision import (
    Bounds,
    gate_range,
    local_ranges,
    stands_for,
    times,
)
from grader.scoring.tolerance import FAR
from grader.scoring.trace import BLOCKED, UNTRACED, BlankKey, Expectation, OwnLocal, Trace

_UNEXPLAINED_WRONG = Trace.WRONG | Trace.UNEXPLAINED
NEAR_FEEDS = frozenset(NEAR_VALUES)


class OwnNumbers:
    """One submission's working numbers and their traces, by node position."""

    __slots__ = (
        "_own_locals",
        "_ranges",
        "_reference_locals",
        "forward_traces",
        "forward_values",
        "grad_ranges",
        "gradient_traces",
        "gradients",
        "local_traces",
        "local_values",
        "near",
        "plan",
        "reference_gradients",
        "reference_values",
        "solution",
    )

    def __init__(self, plan: Plan, solution: Solution) -> None:
        self.plan = plan
        self.solution = solution
        names = plan.names
        self.reference_values = [solution.values[name] for name in names]
        self.reference_gradients = [solution.grads[name] for name in names]
        self.grad_ranges = solution.grad_ranges
        # What the student typed where it is a number, else the reference.
        self.forward_values = list(self.reference_values)
        self.forward_traces = [UNTRACED] * len(names)
        # For a forward value wrong by an error: the degenerate feed values it equals.
        self.near: dict[int, frozenset[float]] = {}
        self.gradients = list(self.reference_gradients)
        self.gradient_traces = [UNTRACED] * len(names)
        self.local_values: dict[tuple[int, int], float] = {}  # typed ones only
        self.local_traces: dict[tuple[int, int], Trace] = {}
        self._own_locals: dict[int, dict[int, OwnLocal] | None] = {}
        self._reference_locals: dict[int, dict[int, float]] = {}
        # What a typed number that differs from the reference stands for, made on first
        # use, by blank.
        self._ranges: dict[BlankKey, Bounds] = {}

    # -------------------------------------------------------- what a blank rests on

    def after_error(self, key: BlankKey) -> bool:
        """Whether any number a blank is computed from traces back to an incorrect blank:
        when none does, a right number needs no expectation. Cheap."""
        kind, k, _ = key
        traces = self.forward_traces
        if kind == "forward":
            return any(Trace.FROM_ERROR in traces[i] for i in self.plan.distinct_inputs[k])
        if kind == "local":
            return self.gate_after_error(k)
        gradient_traces = self.gradient_traces
        local_traces = self.local_traces
        return any(Trace.FROM_ERROR in gradient_traces[c] or self.gate_after_error(c)
                   or Trace.FROM_ERROR in local_traces.get((c, k), UNTRACED)
                   for c in self.plan.consumers[k])

    def gate_after_error(self, c: int) -> bool:
        """Whether a forward value gate c's local gradients read traces to an error."""
        traces = self.forward_traces
        return Trace.FROM_ERROR in traces[c] or any(
            Trace.FROM_ERROR in traces[i] for i in self.plan.distinct_inputs[c])

    def expect(self, key: BlankKey) -> list[Expectation | None]:
        """What the student's own numbers give for a blank."""
        kind, k, j = key
        if kind == "forward":
            return [self.expected_forward(k)]
        if kind == "backward":
            if k == self.plan.output:
                return []  # df/df is 1 whatever came before: nothing to carry
            return self.expected_gradients(k)
        own = (self.own_locals(k) or {}).get(j)
        return [None if own is None else own.expectation()]

    # -------------------------------------------------------- what typed numbers stand for

    def forward_range(self, i: int) -> Bounds | None:
        """The values the student's forward value of node i stands for; None when it is
        the reference's own (or the given value of an input)."""
        trace = self.forward_traces[i]
        if Trace.DIFFERS not in trace:
            return None
        key = self.plan.forward_keys[i]
        found = self._ranges.get(key)
        if found is None:
            found = self._ranges[key] = stands_for(
                self.forward_values[i], self.reference_values[i],
                right=Trace.WRONG not in trace, allowance=self.plan.allowance[i])
        return found

    def gradient_range(self, k: int) -> Bounds | None:
        """The values the student's df/dk stands for; None when it is the reference's."""
        trace = self.gradient_traces[k]
        if Trace.DIFFERS not in trace:
            return None
        key = self.plan.backward_keys[k]
        found = self._ranges.get(key)
        if found is None:
            found = self._ranges[key] = stands_for(
                self.gradients[k], self.reference_gradients[k],
                right=Trace.WRONG not in trace, allowance=self.plan.allowance[k])
        return found

    def local_range(self, c: int, j: int) -> Bounds | None:
        """The values the student's typed local gradient d c / d j stands for."""
        trace = self.local_traces[(c, j)]
        if Trace.DIFFERS not in trace:
            return None
        key = BlankKey("local", c, j)
        found = self._ranges.get(key)
        if found is None:
            found = self._ranges[key] = stands_for(
                self.local_values[(c, j)], self.reference_local(c, j)[0],
                right=Trace.WRONG not in trace, allowance=self.plan.allowance[c])
        return found

    # -------------------------------------------------------- forward values

    def expected_forward(self, k: int) -> Expectation | None:
        """The gate applied to the student's own values of its inputs."""
        plan = self.plan
        op = plan.ops[k]
        assert op is not None
        trace = UNTRACED
        sources: list[BlankKey] = []
        fed = NEAR_FEEDS  # the values every input that differs wrongly equals
        traces = self.forward_traces
        near_by_node = self.near
        for i in plan.distinct_inputs[k]:
            source = traces[i]
            if Trace.DIFFERS in source:
                near = near_by_node.get(i, NOTHING_NEAR) if near_by_node else NOTHING_NEAR
                if near and feeds_degenerately(near, op):
                    source |= Trace.FEED
                trace |= source
                sources.append(plan.forward_keys[i])
                if fed:
                    fed = fed & near
        if Trace.DIFFERS not in trace:
            return None  # the reference's own inputs: nothing to carry
        inputs = plan.inputs[k]
        xs = [self.forward_values[i] for i in inputs]
        try:
            value = evaluate(op, xs, plan.params[k])
        except (ArithmeticError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        if fed and not trace & BLOCKED and same_in_same_out(
                fed, value, self.reference_values[k], plan.compare[k]):
            trace |= Trace.FEED
        if trace & BLOCKED:  # no credit follows from it: its range does not matter
            return Expectation(value, value, trace, tuple(sources), value)
        bounds = gate_range(op, xs, [self.forward_range(i) for i in inputs], plan.params[k])
        if bounds is None:
            return Expectation(value, value, trace, tuple(sources), value)
        low, high = min(bounds[0], value), max(bounds[1], value)
        return Expectation(low, high, trace, tuple(sources), value,
                           max(value - low, high - value))

    def note_near(self, k: int, x: float, reference: float) -> None:
        """Note which degenerate feed values a forward value wrong by an error equals."""
        near = near_values(x, reference, self.plan.compare[k])
        if near:
            self.near[k] = near

    def feed_trace(self, i: int, op: Op) -> Trace:
        """The trace of forward value i as it enters a gate of op `op`."""
        trace = self.forward_traces[i]
        if Trace.WRONG in trace and self.near and feeds_degenerately(
                self.near.get(i, NOTHING_NEAR), op):
            trace |= Trace.FEED
        return trace

    # -------------------------------------------------------- local gradients

    def reference_local(self, c: int, j: int) -> tuple[float, float, float]:
        """The reference d c / d j and its valid range: (point, low, high), the range
        that point away from a kink."""
        plan = self.plan
        found = self._reference_locals.get(c)
        if found is None:
            # What Solution.local_gradients gives, from the values already at hand.
            op = plan.ops[c]
            assert op is not None
            reference = self.reference_values
            slot_locals = local_gradients(op, [reference[i] for i in plan.inputs[c]],
                                          reference[c], plan.params[c])
            found = self._reference_locals[c] = {
                i: sum(slot_locals[s] for s in slots)
                for i, slots in plan.input_slots[c].items()}
        point = found[j]
        ranges = self.solution.local_ranges
        if not ranges:  # no kink in this variant: the common case
            return point, point, point
        return (point, *ranges.get((plan.names[c], plan.names[j]), (point, point)))

    def own_locals(self, c: int) -> dict[int, OwnLocal] | None:
        """Gate c's local gradients at the student's forward values, by input (None
        where the op is undefined there), computed once per gate."""
        if c in self._own_locals:
            return self._own_locals[c]
        self._own_locals[c] = found = self._compute_own_locals(c)
        return found

    def _compute_own_locals(self, c: int) -> dict[int, OwnLocal] | None:
        plan = self.plan
        op = plan.ops[c]
        assert op is not None
        inputs = plan.inputs[c]
        params = plan.params[c]
        xs = [self.forward_values[i] for i in inputs]
        y = self.forward_values[c]
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
            output_read = Trace.DIFFERS in self.forward_traces[c] and y != y_eval and (
                slot_locals != local_gradients(op, xs, y_eval, params))
            choices = None
            if op.kink is not None:
                choices = op.kink(xs[0] if op.unary else tuple(xs), y_eval, params)
        except (ArithmeticError, ValueError):
            return None
        if not math.isfinite(sum(slot_locals)):
            return None
        traces = self.forward_traces
        slots_read = plan.slots_read[c]
        forward_keys = plan.forward_keys
        # Where each local gradient's numbers came from, first: a blocked one needs no
        # range.
        read: dict[int, tuple[Trace, tuple[BlankKey, ...]]] = {}
        for j, slots in plan.input_slots[c].items():
            trace = UNTRACED
            sources: list[BlankKey] = []
            for s in slots_read[j]:
                i = inputs[s]
                if Trace.DIFFERS in traces[i] and forward_keys[i] not in sources:
                    trace |= self.feed_trace(i, op)
                    sources.append(forward_keys[i])
            if output_read:
                trace |= traces[c]
                sources.append(forward_keys[c])
            if _UNEXPLAINED_WRONG in trace and not trace & BLOCKED and self._trivial_local(
                    c, j, sum(slot_locals[s] for s in slots)):
                trace |= Trace.FEED
            read[j] = (trace, tuple(sources))
        # What the rounding of the values read gives (a gate reading its output reads the
        # student's own: their e for eˣ).
        slot_ranges = None
        if not op.constant_local and any(not t & BLOCKED for t, _ in read.values()):
            ranges = [self.forward_range(i) for i in inputs]
            y_range = (self.forward_range(c) if op.unary and y == self.forward_values[c]
                       else None)
            if y_range is not None or any(r is not None for r in ranges):
                slot_ranges = local_ranges(op, xs, y, ranges, y_range, params)
        found: dict[int, OwnLocal] = {}
        for j, slots in plan.input_slots[c].items():
            mine = tuple([slot_locals[s] for s in slots])
            point = sum(mine)
            low = high = point
            if choices is not None:
                sums = [sum(choice[s] for s in slots) for choice in choices]
                low, high = min(sums), max(sums)
            spread = 0.0
            if slot_ranges is not None:
                rounded_low = sum(slot_ranges[s][0] for s in slots)
                rounded_high = sum(slot_ranges[s][1] for s in slots)
                spread = max(point - rounded_low, rounded_high - point, 0.0)
                low, high = min(low, rounded_low), max(high, rounded_high)
            read_trace, read_from = read[j]
            found[j] = OwnLocal(point, low, high, mine, read_trace, read_from, spread)
        return found

    def _trivial_local(self, c: int, j: int, point: float) -> bool:
        """Whether a local gradient the student's wrong values give is 0 or 1 where the
        reference's is not: computed from it, nothing is left to compute (eˣ's local
        gradient is its output: a wrong output of 1 makes it 1)."""
        compare = self.plan.compare[c]
        reference = self.reference_local(c, j)[0]
        return any(compare(point, v, v) != FAR and compare(reference, v, v) == FAR
                   for v in NEAR_VALUES)

    # -------------------------------------------------------- gradients

    def grad_range(self, k: int) -> tuple[float, float]:
        """The valid range of df/dk: the reference, or at a kink every valid subgradient."""
        reference = self.reference_gradients[k]
        if not self.grad_ranges:  # no kink in this variant: the common case
            return reference, reference
        return self.grad_ranges.get(self.plan.names[k], (reference, reference))

    def expected_gradients(self, k: int) -> list[Expectation | None]:
        """df/dk from the student's own upstream gradients and local gradients: those
        evaluated at their forward values, and (when they typed any) their typed ones.
        Each term is a range: the upstream gradient's times the local gradient's."""
        # With the local gradients at the student's forward values:
        low = high = point = spread = 0.0
        trace = UNTRACED
        sources: list[BlankKey] = []
        own_ok = True
        # The same with their typed local gradients, where there are any:
        typed_low = typed_high = typed_point = typed_spread = 0.0
        typed_trace = UNTRACED
        typed_sources: list[BlankKey] = []
        typed_any = False
        local_values = self.local_values
        plan = self.plan
        backward_keys = plan.backward_keys
        consumers = plan.consumers[k]
        for c in consumers:
            upstream = self.gradients[c]
            source = self.gradient_traces[c]
            upstream_range: Bounds | None = None
            own = None
            if Trace.DIFFERS in source:
                if Trace.ONE in source and len(consumers) == 1:
                    own = (self.own_locals(c) or {}).get(k)
                    if own is not None and copies_a_wrong_one(source, own.point):
                        source |= Trace.COPY
                trace |= source
                typed_trace |= source
                sources.append(backward_keys[c])
                typed_sources.append(backward_keys[c])
                if not source & BLOCKED:  # (else no credit follows: no range needed)
                    upstream_range = self.gradient_range(c)
            if upstream == 0.0 and upstream_range is None:
                continue  # nothing flows back through c, whatever its local gradient
            upstream_bounds = upstream_range or (upstream, upstream)
            upstream_spread = (0.0 if upstream_range is None else
                               max(upstream - upstream_range[0], upstream_range[1] - upstream))
            if own is None:
                own = (self.own_locals(c) or {}).get(k)
            if own is None:
                own_ok = False
            else:
                a, b = times(upstream_bounds, (own.low, own.high))
                low += a
                high += b
                point += upstream * own.point
                spread += abs(upstream) * own.spread + abs(own.point) * upstream_spread
                if own.trace:
                    trace |= own.trace
                    sources += [s for s in own.sources if s not in sources]
            typed_local = local_values.get((c, k)) if local_values else None
            if typed_local is not None:
                typed_any = True
                local_range = self.local_range(c, k)
                a, b = times(upstream_bounds, local_range or (typed_local, typed_local))
                typed_low += a
                typed_high += b
                typed_point += upstream * typed_local
                typed_spread += abs(typed_local) * upstream_spread + (0.0 if local_range is None
                                                                      else abs(upstream) * max(
                    typed_local - local_range[0], local_range[1] - typed_local))
                source = self.local_traces[(c, k)]
                if Trace.DIFFERS in source:
                    typed_trace |= source
                    typed_sources.append(BlankKey("local", c, k))
            elif own is not None:
                a, b = times(upstream_bounds, (own.low, own.high))
                typed_low += a
                typed_high += b
                typed_point += upstream * own.point
                typed_spread += abs(upstream) * own.spread + abs(own.point) * upstream_spread
                if own.trace:
                    typed_trace |= own.trace
                    typed_sources += [s for s in own.sources if s not in typed_sources]
            else:
                typed_any = False  # no number to compare with either way
                break
        found: list[Expectation | None] = [
            Expectation(min(low, point), max(high, point), trace, tuple(sources), point, spread)
            if own_ok and math.isfinite(low + high + point) else None]
        if typed_any and math.isfinite(typed_low + typed_high + typed_point):
            found.append(Expectation(min(typed_low, typed_point), max(typed_high, typed_point),
                                     typed_trace, tuple(typed_sources), typed_point,
                                     typed_spread))
        return found
