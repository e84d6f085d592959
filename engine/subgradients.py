"""The valid subgradients where a variant sits on a kink or tie.

At a kink the backward pass takes the documented convention, but any other extreme
local gradient there (`Op.kink`) is as valid, and so is each node's gradient under any
such choice. `grad_ranges` explores the choices (every combination when they are few,
each kink's alternatives one at a time otherwise) and gives, for each node whose
gradient depends on them, the interval from the smallest to the largest it takes;
`local_ranges` does the same for the local gradients of the kinks themselves.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence

from engine.errors import DomainError
from engine.graph import Graph
from engine.ops import KinkChoices

# Beyond this many combinations of kink choices, each kink is varied on its own.
_MAX_KINK_COMBINATIONS = 64
# At most this budget over the number of nodes choices are explored, nearest the output
# first (a full backward pass per choice once cost that many node visits; kept so the
# intervals stay the same): the kinks farthest from the output keep their convention.
# Exercises are far below it; it bounds pathological generated graphs full of ties.
_KINK_WORK_BUDGET = 2_000_000
_FEW_KINKS = 12
_SAME = 1e-12
# A choice whose re-adding reads more consumers than this share of the node count (plus
# a few) is redone by a full backward pass, which costs less per node.
_REPLAY_SHARE = 0.125
_REPLAY_SLACK = 64
# Gates with more inputs than this get their input slots looked up in a table.
_FEW_INPUTS = 4
# Gates with more inputs than this (an output summing thousands of nodes) are indexed
# as one set of inputs rather than in every input's list of consumers.
_WIDE_GATE = 1_000

Choices = Mapping[int, Sequence[float]]


def grad_ranges(
    graph: Graph,
    values: Sequence[float],
    grads: Sequence[float],
    kinks: Mapping[int, KinkChoices],
) -> dict[str, tuple[float, float]]:
    """Node name -> (lowest, highest) d output / d node over the explored choices, for
    the nodes where the two differ by more than rounding."""
    live = kinks
    if len(kinks) > _FEW_KINKS:
        # Many kinks (a generated graph full of ties): keep those with gradient
        # flowing in. This misses a kink fed only through another kink's choice.
        live = {k: c for k, c in kinks.items() if grads[k] != 0.0}
    if not live:
        return {}
    positions = sorted(live, reverse=True)  # nearest the output first
    options = [live[k] for k in positions]
    combos: Iterator[dict[int, tuple[float, ...]]]
    if math.prod(len(o) for o in options) <= _MAX_KINK_COMBINATIONS:
        combos = (dict(zip(positions, pick, strict=True)) for pick in itertools.product(*options))
    else:
        combos = ({k: choice} for k in positions for choice in live[k])
    combos = itertools.islice(combos, max(1, _KINK_WORK_BUDGET // len(values)))
    other = OtherChoices(graph, values, grads)
    lo: dict[int, float] = {}
    hi: dict[int, float] = {}
    for combo in combos:
        changed = other.gradients(combo)
        if changed is None:
            continue  # this choice needs a derivative that does not exist there
        for j, g in changed.items():
            if g < lo.get(j, grads[j]):
                lo[j] = g
            elif g > hi.get(j, grads[j]):
                hi[j] = g
    ranges: dict[str, tuple[float, float]] = {}
    for j in sorted(lo.keys() | hi.keys()):
        low, high = lo.get(j, grads[j]), hi.get(j, grads[j])
        # Choices that differ only in the order of the same sums give rounding noise.
        if high - low > _SAME * max(1.0, abs(low), abs(high)):
            ranges[graph.names[j]] = (low, high)
    return ranges


def local_ranges(
    graph: Graph, kinks: Mapping[int, KinkChoices]
) -> dict[tuple[str, str], tuple[float, float]]:
    """(kink, input name) -> (lowest, highest) local gradient over the kink's choices,
    summed over the slots where the input is used more than once."""
    names = graph.names
    ranges: dict[tuple[str, str], tuple[float, float]] = {}
    for k, choices in kinks.items():
        ins = graph.inputs_of(k)
        if len(set(ins)) == len(ins):  # each input in one slot: its column of choices
            for j, column in zip(ins, zip(*choices, strict=True), strict=True):
                ranges[(names[k], names[j])] = (min(column), max(column))
            continue
        for j in dict.fromkeys(ins):
            slots = [s for s, i in enumerate(ins) if i == j]
            sums = [sum([c[s] for s in slots]) for c in choices]
            ranges[(names[k], names[j])] = (min(sums), max(sums))
    return ranges


class _Undefined(Exception):
    """A choice needs a local gradient that cannot be computed there."""


class OtherChoices:
    """The gradients under other choices of local gradients at kinks, worked out only
    for the nodes whose gradient they change.

    A node's gradient is the sum of its consumers' contributions, added highest
    consumer first as the backward pass adds them. Under other choices only the
    contributions of the kinks and of consumers whose own gradient changed can differ,
    so a node is re-added from its highest consumer down to the lowest that changed,
    once with the convention and once with the choices; when the two partial sums
    agree, so do the whole sums, and the node's ancestors are not visited. Every sum
    is added in the backward pass's order, so the gradients are bit for bit those of
    a full pass with the same choices.
    """

    def __init__(self, graph: Graph, values: Sequence[float], grads: Sequence[float]) -> None:
        self._graph = graph
        self._values = values
        self._grads = grads
        self._first_gate = len(graph.input_names)
        # Each node's consumers among the gates indexed so far, highest first. Only as
        # much of the graph is indexed as the changes reach down to, which near the
        # output is a small part of it. Wide gates are kept apart, as sets of inputs.
        self._consumers: dict[int, list[int]] = {}
        self._wide: dict[int, frozenset[int]] = {}
        self._indexed_from = len(values)
        self._locals: dict[int, tuple[float, ...]] = {}
        self._slot_tables: dict[int, dict[int, tuple[int, ...]]] = {}
        self._visit_limit = int(len(values) * _REPLAY_SHARE) + _REPLAY_SLACK

    def gradients(self, choices: Choices) -> dict[int, float] | None:
        """Position -> d output / d node under `choices` (local gradients by gate
        position), for every node whose gradient is not the convention's; None when
        a full backward pass with these choices raises DomainError."""
        grads = self._grads
        changed: dict[int, float] = {}
        lowest: dict[int, int] = {}  # node to re-add -> its lowest consumer that changed
        waiting: list[int] = []  # those nodes as a max-heap (negated positions)
        visits = 0

        def wait(node: int, consumer: int) -> None:
            if node in lowest:
                lowest[node] = min(lowest[node], consumer)
            else:
                lowest[node] = consumer
                heapq.heappush(waiting, -node)

        for k in choices:
            for j in self._graph.inputs_of(k):
                wait(j, k)
        try:
            # Highest first: every consumer of a node is settled before the node.
            while waiting:
                node = -heapq.heappop(waiting)
                g, count = self._resum(node, lowest.pop(node), changed, choices)
                visits += count
                if visits > self._visit_limit:
                    return self._full_pass(choices)
                if g == grads[node]:
                    continue
                if not math.isfinite(g):
                    return None
                changed[node] = g
                for j in self._graph.inputs_of(node):
                    wait(j, node)
        except _Undefined:
            return None
        return changed

    def _resum(
        self, node: int, low: int, changed: Mapping[int, float], choices: Choices
    ) -> tuple[float, int]:
        """The node's gradient under the choices, and how many consumers were read."""
        self._index_down_to(low)
        consumers = self._consumers_of(node)
        before = after = 0.0
        read = 0
        for c in consumers:
            if c < low:
                break
            before, after = self._add(c, node, before, after, changed, choices)
            read += 1
        if after == before:  # the same partial sum, then the same contributions
            return self._grads[node], read
        self._index_down_to(node + 1)
        consumers = self._consumers_of(node)
        for c in consumers[read:]:  # the lower consumers: their contributions are unchanged
            before, after = self._add(c, node, before, after, changed, choices)
        return after, len(consumers)

    def _add(
        self,
        consumer: int,
        node: int,
        before: float,
        after: float,
        changed: Mapping[int, float],
        choices: Choices,
    ) -> tuple[float, float]:
        """Both running sums plus one consumer's contributions to the node: with the
        convention, and with the choices."""
        g_before = self._grads[consumer]
        g_after = changed.get(consumer, g_before)
        chosen = choices.get(consumer)
        for slot in self._slots(consumer, node):
            # As in the backward pass: a zero upstream gradient adds nothing.
            if g_before != 0.0:
                before += g_before * self._local(consumer)[slot]
            if g_after != 0.0:
                d = chosen[slot] if chosen is not None else self._local(consumer)[slot]
                after += g_after * d
        return before, after

    def _slots(self, consumer: int, node: int) -> tuple[int, ...]:
        ins = self._graph.inputs_of(consumer)
        if len(ins) <= _FEW_INPUTS:
            return tuple(s for s, j in enumerate(ins) if j == node)
        table = self._slot_tables.get(consumer)
        if table is None:
            slots: dict[int, list[int]] = {}
            for s, j in enumerate(ins):
                slots.setdefault(j, []).append(s)
            table = {j: tuple(s) for j, s in slots.items()}
            self._slot_tables[consumer] = table
        return table[node]

    def _local(self, gate: int) -> tuple[float, ...]:
        """The gate's local gradients with the convention (the backward pass's own)."""
        found = self._locals.get(gate)
        if found is None:
            try:
                found = self._graph.local_gradients(self._values, gate)
            except (ArithmeticError, ValueError):
                raise _Undefined from None
            self._locals[gate] = found
        return found

    def _consumers_of(self, node: int) -> list[int]:
        """The node's consumers among the indexed gates, highest first."""
        consumers = self._consumers.get(node, [])
        wide = [c for c, ins in self._wide.items() if node in ins]
        return sorted(consumers + wide, reverse=True) if wide else consumers

    def _index_down_to(self, position: int) -> None:
        """Index the consumers of every gate at or above `position`."""
        start = max(position, self._first_gate)
        consumers = self._consumers
        for c in range(self._indexed_from - 1, start - 1, -1):
            ins = self._graph.inputs_of(c)
            if len(ins) > _WIDE_GATE:
                self._wide[c] = frozenset(ins)
                continue
            for j in ins:
                users = consumers.get(j)
                if users is None:
                    consumers[j] = [c]
                elif users[-1] != c:  # an input used twice (x·x) is one consumer
                    users.append(c)
        self._indexed_from = min(self._indexed_from, start)

    def _full_pass(self, choices: Choices) -> dict[int, float] | None:
        try:
            alternative = self._graph.backward(self._values, choices)
        except DomainError:
            return None
        grads = self._grads
        return {j: g for j, g in enumerate(alternative) if g != grads[j]}
