"""Mistakes in how gradient flows back, whatever the gates: branches not summed, the
upstream gradient left out, a flipped sign, a percentage, a forward value in a gradient's
blank, two blanks' values swapped. Registered in grader.scoring.mistakes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations

from grader.i18n import gettext as _
from grader.scoring import feedback
from grader.scoring.wrong_blank import Edge, WrongBlank

# Up to this many branches, every proper subset of them is tried as what a student
# summed; beyond, each branch alone and all branches but one.
FEW_BRANCHES = 4
# Gates whose local gradient is 0 by rule for an input that does not win (or is cut off):
# a branch through one of them can carry nothing back, whatever the numbers.
ROUTING_OPS = frozenset({"max", "min", "relu"})


def _grad(b: WrongBlank, node: str) -> str:
    return feedback.gradient_label(b.output, node)


def _partial_sums(values: Sequence[float]) -> Iterator[tuple[frozenset[int], float]]:
    """(kept, their sum) for the proper non-empty subsets of the branches a student
    may have summed, the largest first (leaving out as little as explains the value):
    every one when there are few branches, else all but one and each one alone (in
    time linear in the number of branches)."""
    n = len(values)
    total = sum(values)
    every = frozenset(range(n))
    if n <= FEW_BRANCHES:
        for size in range(1, n):  # how many are left out
            for out in combinations(range(n), size):
                yield every.difference(out), total - sum(values[i] for i in out)
        return
    for i in range(n):
        yield every - {i}, total - values[i]
    for i in range(n):
        yield frozenset((i,)), values[i]


def _routed_away(edge: Edge, local: float) -> bool:
    """A branch that carries nothing back by rule (the input lost a max, a relu is
    off): a zero it leaves is the rule's, not a number's."""
    return edge.op in ROUTING_OPS and local == 0.0


def branch_not_summed(b: WrongBlank) -> str | None:
    """Summed some of the branches a node feeds, not all of them (one use of x in x·x
    among them), or averaged them. A zero is explained only when the branches kept
    carry nothing by rule."""
    if b.kind == "local":
        edge = b.edges[0] if b.edges else None
        if edge is None or len(edge.slots) < 2 or b.zero:
            return None
        # A gate using its input in several slots: the local gradient of one use.
        if any(b.fits(d) for d in dict.fromkeys(edge.slot_locals)):
            return _("{gate} uses {wrt} {times}: its local gradient with respect to {wrt} "
                     "is the sum over each use (the product rule), not one use "
                     "alone").format(gate=edge.consumer, wrt=b.wrt,
                                     times=feedback.times(len(edge.slots)))
        return None
    if b.kind != "backward":
        return None
    # One term per edge and slot: a gate using the node twice (x·x) is two branches too.
    terms = [(e, e.upstream * d, d) for e in b.edges for d in e.slot_locals]
    if len(terms) < 2:
        return None
    for kept, value in _partial_sums([term[1] for term in terms]):
        if b.zero and not all(_routed_away(terms[i][0], terms[i][2]) for i in kept):
            continue
        if not b.fits(value):
            continue
        if len(b.edges) == 1:
            some = len(kept)
            return _("{gate} uses {node} {times}: {gradient} is the sum of what comes back "
                     "through each use, not only {some}").format(
                gate=b.edges[0].consumer, node=b.node, times=feedback.times(len(terms)),
                gradient=_grad(b, b.node),
                some=_("one") if some == 1 else _("{count} of them").format(count=some))
        left_out: dict[str, int] = {}
        for i, (e, _term, _local) in enumerate(terms):
            if i not in kept:
                left_out[e.consumer] = left_out.get(e.consumer, 0) + 1
        uses = {e.consumer: len(e.slots) for e in b.edges}
        missing = [consumer if out == uses[consumer] else (
            _("one use in {gate}") if out == 1 else _("{count} uses in {gate}")).format(
                gate=consumer, count=out) for consumer, out in left_out.items()]
        return _("{node} feeds {count} branches ({branches}): {gradient} is the sum of what "
                 "comes back along all of them; this leaves out {missing}").format(
            node=b.node, count=len(terms), branches=_branches(b.edges),
            gradient=_grad(b, b.node), missing=feedback.join_and(feedback.shortened(missing)))
    if not b.zero and b.fits(sum(term[1] for term in terms) / len(terms)):
        return _("{node} feeds {count} branches ({branches}): {gradient} is the sum of what "
                 "comes back along all of them, not their average").format(
            node=b.node, count=len(terms), branches=_branches(b.edges),
            gradient=_grad(b, b.node))
    return None


def _branches(edges: Sequence[Edge]) -> str:
    """"a, b (twice), c": the gates a node feeds, and how often each uses it."""
    return ", ".join(e.consumer if len(e.slots) == 1 else _("{gate} ({times})").format(
        gate=e.consumer, times=feedback.times(len(e.slots))) for e in edges)


def no_upstream(b: WrongBlank) -> str | None:
    """Gave the local gradient alone, not multiplied by the upstream gradient."""
    if b.kind != "backward" or not b.edges:
        return None
    if b.fits(sum(e.local for e in b.edges)):
        return _("chain rule: multiply the local gradient by the upstream gradient "
                 "({upstream}); this is the local gradient alone").format(
            upstream=", ".join(_grad(b, e.consumer) for e in b.edges))
    return None


def percent(b: WrongBlank) -> str | None:
    """A gradient typed times 100, as a percentage."""
    if b.kind != "forward" and b.fits(100.0 * b.expected):
        return _("this is the gradient times 100, as a percentage: type the gradient "
                 "itself")
    return None


def sign_flip(b: WrongBlank) -> str | None:
    """The right magnitude with the wrong sign."""
    if not b.fits(-b.expected):
        return None
    if b.kind == "forward":
        edge = b.edges[0]
        return _("the sign is wrong: recompute {node} = {formula}, minding each sign").format(
            node=b.node, formula=feedback.formula(edge.op, edge.inputs, edge.params))
    return _("the sign is wrong: check the sign of each local gradient on the way back "
             "from the output")


def forward_as_gradient(b: WrongBlank) -> str | None:
    """Typed the node's forward value where its gradient was asked."""
    if b.kind == "forward" or not b.fits(b.forward_value):
        return None
    if b.kind == "backward":
        return _("this is the forward value of {node}; the blank asks for the gradient "
                 "{gradient}, from the backward pass").format(
            node=b.node, gradient=_grad(b, b.node))
    return _("this is the forward value of {gate}; the blank asks for the local gradient "
             "∂{gate}/∂{input}").format(gate=b.node, input=b.wrt)


def swapped_blanks(b: WrongBlank) -> str | None:
    """Two blanks' values exchanged: this one holds what belongs in `b.partner`, which
    holds what belongs here. Decided across blanks (grader.scoring.diagnosis),
    which names the partner; alone, a blank cannot tell."""
    if b.partner is None:
        return None
    return _("this value belongs in {other}, and {other} holds the one that belongs here: "
             "the two are swapped").format(other=b.partner)
