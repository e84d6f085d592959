"""An assignment as its instructors follow it: each student's attempts, any attempt
drawn on the circuit in full, and the class's analytics on the circuit."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from grader.lti import outbox
from grader.scoring.mistakes import mistake_name
from grader.services import analytics, assignments, gradebook, history
from grader.services.courses import assignment_access
from grader.sessions import get_session
from grader.web.blanks import opening, room_below
from grader.web.browser import check_csrf
from grader.web.graph_page import Attempts, HistoryEntry, page_of
from grader.web.instructor.access import instructor
from grader.web.instructor.drawing import drawing_of, share_boxes

bp = Blueprint("assignments", __name__, url_prefix="/assignments")

ASSIGNMENT = "<int(max=2147483647):assignment_id>"
USERNAME = "<string(maxlength=100):username>"
NUMBER = "<int(max=2147483647):number>"


@bp.get(f"/{ASSIGNMENT}")
def assignment_page(assignment_id: int) -> ResponseReturnValue:
    caller = instructor()
    session = get_session()
    assignment, _enrollment = assignment_access(session, caller, assignment_id, manage=True)
    book = gradebook.gradebook(session, caller, assignment.course_id)
    return render_template("instructor/assignment.html", assignment=assignment,
                           course=book.course, rows=book.rows,
                           refused=outbox.parked_scores(session, caller, assignment_id))


@bp.post(f"/{ASSIGNMENT}/refused-scores/<int(max=2147483647):job_id>")
def retry_refused_score(assignment_id: int, job_id: int) -> ResponseReturnValue:
    """Send a score the LMS refused again (after fixing what its answer said)."""
    caller = instructor()
    check_csrf()
    outbox.retry_parked(get_session(), caller, assignment_id, job_id)
    return redirect(url_for("web.instructor.assignments.assignment_page",
                            assignment_id=assignment_id) + "#refused-heading", 303)


@bp.get(f"/{ASSIGNMENT}/students/{USERNAME}")
@bp.get(f"/{ASSIGNMENT}/students/{USERNAME}/attempts/{NUMBER}")
def student_attempt(assignment_id: int, username: str, number: int | None = None
                    ) -> ResponseReturnValue:
    """A student's attempt drawn on the circuit, in full (the latest by default)."""
    caller = instructor()
    session = get_session()
    assignment, _enrollment = assignment_access(session, caller, assignment_id, manage=True)
    records = assignments.assignment_attempts(session, caller, assignment_id, username)
    page = None
    shown = None
    if records:
        shown = history.assignment_attempt(session, caller, assignment_id,
                                           number or records[-1].number, username)
        entries = [HistoryEntry(r.number, "", float(r.result_data()["score"]), r.created_at,
                                r.number == shown.number) for r in reversed(records)]
        page = page_of(shown.exercise, shown.inputs, shown.variant,
                       attempts=Attempts(len(records), None), history=entries, action=None,
                       shown=shown)
    return render_template("instructor/attempt.html", assignment=assignment,
                           username=username, page=page, shown=shown, records=records)


@bp.get(f"/{ASSIGNMENT}/analytics")
def analytics_page(assignment_id: int) -> ResponseReturnValue:
    found = analytics.assignment_analytics(get_session(), instructor(), assignment_id)
    drawing = drawing_of(found.exercise)
    boxes = share_boxes(found.exercise, found.blanks)
    return render_template("instructor/analytics.html", found=found,
                           assignment=found.assignment, drawing=drawing, boxes=boxes,
                           frame_height=room_below(drawing.height, (b.box for b in boxes)),
                           opening=opening, mistake_name=mistake_name)
