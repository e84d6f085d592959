"""A student's worked solution of their own assignment numbers
(`/assignments/ID/solution`), once the assignment shows it: after its due time, when
its instructor chose so. The same drawing and steps as the instructor's preview."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from grader.services import solutions
from grader.sessions import get_session
from grader.web.browser import signed_in
from grader.web.instructor.drawing import solution_drawing, step_views

bp = Blueprint("solutions", __name__)


@bp.get("/assignments/<int(max=2147483647):assignment_id>/solution")
def assignment_solution(assignment_id: int) -> ResponseReturnValue:
    view = solutions.own_assignment_solution(get_session(), signed_in(), assignment_id)
    solution = view.solution
    return render_template("solution.html", view=view, exercise=solution.exercise,
                           drawing=solution_drawing(solution), steps=step_views(solution))
