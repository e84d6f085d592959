"""How a class did on an assignment, blank by blank: the share of students whose
latest attempt got each blank right, carried an earlier error through consistently,
got it wrong or left it empty, and the mistakes diagnosed most often in it.

Each student counts once, by their latest attempt: what they know now, not their
luckiest try (the best score would mix blanks of different attempts). Students with
no attempt are counted apart (`not_attempted`), not as missing blanks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import Exercise
from grader.models import Assignment, Attempt, CourseRole, Enrollment
from grader.services.accounts import Caller
from grader.services.courses import assignment_access
from grader.services.exercises import exercise_of_version

# The statuses a blank is counted under; a blank that held no number ("invalid"; such
# attempts are refused, so only an old result could hold one) counts as missing.
SHARES = ("correct", "consistent", "incorrect", "missing")
TOP_MISTAKES = 3


@dataclass(frozen=True)
class BlankKey:
    kind: str  # forward, backward, local
    node: str
    input: str | None = None


@dataclass
class BlankTally:
    """How many students' attempts put a blank under each status, and the mistake
    codes diagnosed in it."""

    blank: BlankKey
    counts: Counter[str] = field(default_factory=Counter)
    mistakes: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts[s] for s in SHARES)

    def share(self, status: str) -> float:
        """The fraction (0 to 1) of counted students under `status`; 0 with none."""
        return self.counts[status] / self.total if self.total else 0.0

    def top_mistakes(self, limit: int = TOP_MISTAKES) -> list[tuple[str, int]]:
        """The most frequent mistake codes, most frequent first (ties by code)."""
        return sorted(self.mistakes.items(), key=lambda item: (-item[1], item[0]))[:limit]


def blanks_of(exercise: Exercise) -> list[BlankKey]:
    """Every blank an exercise asks for, in working order: forward values, gradients
    from the output back, then each gate's local gradients."""
    gates = [g.id for g in exercise.gates]
    found: list[BlankKey] = []
    if "forward" in exercise.ask:
        found += [BlankKey("forward", g) for g in gates]
    if "backward" in exercise.ask:
        found += [BlankKey("backward", n) for n in [*reversed(gates),
                                                    *reversed(list(exercise.inputs))]]
    if "local" in exercise.ask:
        for gate in exercise.gates:
            found += [BlankKey("local", gate.id, name) for name in dict.fromkeys(gate.inputs)]
    return found


def tally(blanks: Sequence[BlankKey], results: Iterable[Mapping[str, Any]]
          ) -> list[BlankTally]:
    """Count stored results (one per student) blank by blank. A blank a result does not
    list counts as missing."""
    tallies = {blank: BlankTally(blank) for blank in blanks}
    for result in results:
        seen: set[BlankKey] = set()
        for graded in result.get("blanks") or ():
            key = BlankKey(graded["kind"], graded["node"], graded.get("input"))
            found = tallies.get(key)
            if found is None or key in seen:
                continue
            seen.add(key)
            status = graded.get("status")
            found.counts[status if status in SHARES else "missing"] += 1
            if status == "incorrect" and graded.get("mistake"):
                found.mistakes[str(graded["mistake"])] += 1
        for key in tallies.keys() - seen:
            tallies[key].counts["missing"] += 1
    return [tallies[blank] for blank in blanks]


@dataclass(frozen=True)
class AssignmentAnalytics:
    assignment: Assignment
    exercise: Exercise
    students: int  # enrolled as students
    counted: int  # students with at least one attempt: each one's latest
    blanks: list[BlankTally]

    @property
    def not_attempted(self) -> int:
        return self.students - self.counted


def assignment_analytics(session: Session, actor: Caller, assignment_id: int
                         ) -> AssignmentAnalytics:
    """The class's latest attempts at an assignment, tallied blank by blank (course
    instructors and admins; NotFound, Forbidden)."""
    assignment, _enrollment = assignment_access(session, actor, assignment_id, manage=True)
    students = select(Enrollment.user_id).where(
        Enrollment.course_id == assignment.course_id, Enrollment.role == CourseRole.STUDENT)
    latest = (
        select(Attempt.user_id, func.max(Attempt.number).label("number"))
        .where(Attempt.assignment_id == assignment.id, Attempt.user_id.in_(students))
        .group_by(Attempt.user_id)
        .subquery()
    )
    results = list(session.execute(
        select(Attempt.result)
        .join(latest, (latest.c.user_id == Attempt.user_id)
              & (latest.c.number == Attempt.number))
        .where(Attempt.assignment_id == assignment.id)
    ).scalars())
    enrolled = session.execute(select(func.count()).select_from(students.subquery())).scalar_one()
    exercise = exercise_of_version(assignment.exercise_version)
    return AssignmentAnalytics(assignment, exercise, enrolled, len(results),
                               tally(blanks_of(exercise), results))
