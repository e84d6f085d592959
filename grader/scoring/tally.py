"""From the marks of every blank to a `GradeResult`: points, the score, the first error.

`first_error` is the first incorrect blank in working order, the one to fix first: an
error in the forward pass changes what follows it, an error in the backward pass what
lies before it, and the working order visits every blank after those it is computed
from. It lists the blanks its wrong value was carried into.
"""

from __future__ import annotations

from collections.abc import Mapping

from grader.scoring.anti_gaming import carried_credit_allowed
from grader.scoring.marks import CORRECT_MARK, MISSING_MARK, Mark
from grader.scoring.plan import Plan
from grader.scoring.results import (
    KINDS,
    BlankRef,
    BlankResult,
    FirstError,
    GradeResult,
    ScoringPolicy,
)
from grader.scoring.trace import BlankKey


def tally(plan: Plan, policy: ScoringPolicy, marks_by_key: Mapping[BlankKey, Mark],
          ) -> GradeResult:
    """The result of a submission whose every blank the plan asks for is marked."""
    points_of = {kind: policy.points(kind) for kind in KINDS}
    share = policy.consistent_share
    # The results every submission shares (right, missing, plainly wrong) are made
    # once per exercise; the others here.
    correct, missing, plainly_wrong = plan.results_of(
        (points_of["forward"], points_of["backward"], points_of["local"]))
    rule_marks = plan.rule_marks_now()
    refs = plan.refs
    marks = [marks_by_key[key] for key in plan.order]
    blanks: list[BlankResult] = []
    carried_at: list[int] = []  # consistent blanks resting on an error: capped below
    total = own = carried = 0.0
    for n, (key, mark) in enumerate(zip(plan.order, marks, strict=True)):
        points = points_of[key.kind]
        total += points
        if mark is CORRECT_MARK:
            own += points
            blanks.append(correct[n])
        elif mark is MISSING_MARK:
            blanks.append(missing[n])
        elif mark is rule_marks.get(key):
            found = plainly_wrong.get(n)
            if found is None:
                ref = refs[n]
                found = plainly_wrong[n] = BlankResult(
                    ref.kind, ref.node, ref.input, "incorrect", 0.0, points, None, mark.message)
            blanks.append(found)
        else:
            ref = refs[n]
            status = mark.status
            earned = 0.0
            if status == "correct":
                earned = points
                own += points
            elif status == "consistent":
                earned = points * share
                if mark.from_error:
                    carried += earned
                    carried_at.append(n)
                else:
                    own += earned
                    earned = round(earned, 6)
            blanks.append(BlankResult(ref.kind, ref.node, ref.input, status, earned, points,
                                      mark.mistake, mark.message))
    allowed = carried_credit_allowed(policy, carried=carried, own=own, total=total,
                                     least_points=plan.least_points(policy))
    if carried_at:
        factor = allowed / carried if carried else 0.0
        for n in carried_at:
            blanks[n] = blanks[n]._replace(points=round(blanks[n].points * factor, 6))
    score = round((own + allowed) / total, 6) if total > 0 else 0.0
    return GradeResult(min(score, 1.0), tuple(blanks), _first_error(plan, marks),
                       plan.names[plan.output])


def _first_error(plan: Plan, marks: list[Mark]) -> FirstError | None:
    """The first incorrect blank, and the later blanks resting on it (marks in working
    order)."""
    start = next((n for n, m in enumerate(marks) if m.status == "incorrect"), None)
    if start is None:
        return None
    order = plan.order
    reached = {order[start]}
    into: list[BlankRef] = []
    # Work order puts every source before the blanks computed from it: one sweep.
    for n in range(start + 1, len(order)):
        mark = marks[n]
        if mark.sources and not reached.isdisjoint(mark.sources):
            reached.add(order[n])
            if mark.status != "correct":  # right despite it: passed through, not hit
                into.append(plan.refs[n])
    return FirstError(plan.refs[start], tuple(into))
