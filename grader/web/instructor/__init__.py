"""The instructor pages, under /instructor: the exercise library (upload, edit,
preview a seed's worked solution), courses (roster, sign-in links, assignments, the
gradebook) and each assignment's attempts and class analytics.

Only staff reach them: instructors (a course's own instructors for its pages) and
admins; anyone else gets the 403 page. Views are thin: the services check access and
do the work.

    exercise_pages     the library, a spec's upload or edit, the preview
    course_pages       courses, roster, links, assignments, the gradebook
    assignment_pages   an assignment's students, their attempts, analytics
    forms              reading the forms; drawing: what is drawn on a circuit
"""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask.typing import ResponseReturnValue

from grader.web.instructor import assignment_pages, course_pages, exercise_pages


def blueprint() -> Blueprint:
    """A new parent per app: a blueprint cannot change once registered."""
    found = Blueprint("instructor", __name__, url_prefix="/instructor")
    found.register_blueprint(exercise_pages.bp)
    found.register_blueprint(course_pages.bp)
    found.register_blueprint(assignment_pages.bp)
    found.add_url_rule("/", "start", _start)
    return found


def _start() -> ResponseReturnValue:
    """/instructor: where "Teaching" leads, the courses."""
    return redirect(url_for("web.instructor.courses.courses_page"), 302)
