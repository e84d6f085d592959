"""A course as its instructors manage it: creating one, the roster (enrolling a user,
importing a CSV roster), sign-in links for its students, its assignments, and the
gradebook as a table and as CSV."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from grader import i18n, rate_limits
from grader.api.courses import gradebook_csv
from grader.api.schemas import CourseCreate
from grader.i18n import gettext as _
from grader.lti import memberships
from grader.lti.memberships import RosterPull
from grader.models import CourseRole, Feedback
from grader.services import courses, exercise_library, gradebook, roster, sign_in
from grader.services.accounts import Caller
from grader.services.courses import teaches
from grader.services.errors import Conflict, ValidationFailed
from grader.services.roster import RosterReport
from grader.sessions import get_session
from grader.web.browser import check_csrf
from grader.web.instructor.access import instructor
from grader.web.instructor.forms import (
    TIME_ZONES,
    AssignmentForm,
    empty_assignment_form,
    read_assignment_form,
)

bp = Blueprint("courses", __name__, url_prefix="/courses")

COURSE = "<int(max=2147483647):course_id>"
ROSTER_FIELD = "roster"
ROSTER_FILE_FIELD = "roster_file"


def _course_url(course_id: int, fragment: str = "") -> str:
    return url_for("web.instructor.courses.course_page", course_id=course_id) + fragment


def _render_courses(caller: Caller, *, title: str = "", problem: str | None = None,
                    status: int = 200) -> Response:
    taught = [(c, role) for c, role in courses.visible_courses(get_session(), caller)
              if teaches(caller, role)]
    body = render_template("instructor/courses.html", courses=taught, title=title,
                           problem=problem)
    return Response(body, status=status, mimetype="text/html")


@bp.get("")
def courses_page() -> ResponseReturnValue:
    return _render_courses(instructor())


@bp.post("")
def create_course() -> ResponseReturnValue:
    caller = instructor()
    check_csrf()
    title = request.form.get("title", "")
    try:
        checked = CourseCreate.model_validate({"title": title})
    except ValidationError:
        return _render_courses(caller, title=title, status=422,
                               problem=_("A title is one line of 1 to 200 characters."))
    course = courses.create_course(get_session(), caller, checked.title)
    return redirect(_course_url(course.id), 303)


def _render_course(caller: Caller, course_id: int, *, status: int = 200,
                   report: RosterReport | None = None, form: AssignmentForm | None = None,
                   enrol_problem: str | None = None, roster_problem: str | None = None,
                   enrol_username: str = "", lms_pull: RosterPull | None = None
                   ) -> Response:
    session = get_session()
    course, _enrollment = courses.course_access(session, caller, course_id, manage=True)
    body = render_template(
        "instructor/course.html", course=course,
        enrollments=courses.course_enrollments(session, caller, course_id),
        assignments=courses.course_assignments(session, caller, course_id),
        exercises=exercise_library.library(session, caller,
                                          i18n.tag(i18n.current_language())),
        form=form or empty_assignment_form(), time_zones=TIME_ZONES,
        feedback_choices=list(Feedback), report=report, enrol_problem=enrol_problem,
        roster_problem=roster_problem, enrol_username=enrol_username,
        enrolled=request.args.get("enrolled"), created=request.args.get("created"),
        lms_roster=memberships.has_lms_roster(session, course_id), lms_pull=lms_pull)
    return Response(body, status=status, mimetype="text/html")


@bp.get(f"/{COURSE}")
def course_page(course_id: int) -> ResponseReturnValue:
    return _render_course(instructor(), course_id)


@bp.post(f"/{COURSE}/enrollments")
def enrol(course_id: int) -> ResponseReturnValue:
    caller = instructor()
    check_csrf()
    username = request.form.get("username", "").strip()
    role = CourseRole.INSTRUCTOR if request.form.get("role") == "instructor" else (
        CourseRole.STUDENT)
    try:
        courses.enroll(get_session(), caller, course_id, username, role)
    except (ValidationFailed, Conflict) as exc:
        detail = "; ".join(str(e.get("detail")) for e in exc.errors) or exc.detail
        return _render_course(caller, course_id, status=422, enrol_problem=detail,
                              enrol_username=username)
    return redirect(url_for("web.instructor.courses.course_page", course_id=course_id,
                            enrolled=username) + "#roster-heading", 303)


def _roster_text() -> str | None:
    upload = request.files.get(ROSTER_FILE_FIELD)
    if upload is not None and upload.filename:
        try:
            return bytes(upload.read(roster.MAX_ROSTER_BYTES + 1)).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(request.form.get(ROSTER_FIELD) or "")


@bp.post(f"/{COURSE}/roster")
def import_roster(course_id: int) -> ResponseReturnValue:
    caller = instructor()
    check_csrf()
    text = _roster_text()
    if text is None:
        return _render_course(caller, course_id, status=422, roster_problem=_(
            "The file is not UTF-8 text: save it as CSV UTF-8 and upload it again."))
    try:
        report = roster.import_roster(get_session(), caller, course_id, text)
    except (ValidationFailed, Conflict) as exc:
        detail = "; ".join(str(e.get("detail")) for e in exc.errors)
        return _render_course(caller, course_id, status=422,
                              roster_problem=f"{exc.detail}: {detail}" if detail else exc.detail)
    return _render_course(caller, course_id, report=report)


@bp.post(f"/{COURSE}/lms-roster")
def pull_lms_roster(course_id: int) -> ResponseReturnValue:
    """Enrol everyone the LMS lists in the linked LMS course (Names and Roles)."""
    caller = instructor()
    check_csrf()
    try:
        pulled = memberships.pull_roster(get_session(), caller, course_id,
                                         current_app.extensions["grader.lti_client"])
    except (memberships.LmsUnavailable, Conflict) as exc:
        status = 502 if isinstance(exc, memberships.LmsUnavailable) else 409
        return _render_course(caller, course_id, status=status, roster_problem=exc.detail)
    return _render_course(caller, course_id, lms_pull=pulled)


@bp.post(f"/{COURSE}/sign-in-links")
def sign_in_links(course_id: int) -> ResponseReturnValue:
    caller = instructor()
    check_csrf()
    rate_limits.check(rate_limits.SIGN_IN)
    settings = current_app.extensions["grader.settings"]
    chosen = request.form.getlist("user") or None
    session = get_session()
    course, _enrollment = courses.course_access(session, caller, course_id, manage=True)
    links = sign_in.course_links(session, caller, course_id, chosen,
                                 settings.sign_in_link_hours)
    base = settings.base_url
    return render_template("instructor/links.html", course=course,
                           links=[(link, link.url(base)) for link in links],
                           hours=settings.sign_in_link_hours)


@bp.post(f"/{COURSE}/assignments")
def create_assignment(course_id: int) -> ResponseReturnValue:
    caller = instructor()
    check_csrf()
    form = read_assignment_form(request.form)
    settings = form.settings
    if settings is None:
        return _render_course(caller, course_id, status=422, form=form)
    try:
        assignment = courses.create_assignment(
            get_session(), caller, course_id, settings.exercise, settings.max_attempts,
            settings.opens_at, settings.due_at, settings.new_variant_each_attempt,
            settings.feedback, settings.solution_after_due, settings.score_policy)
    except ValidationFailed as exc:
        form.problems["exercise"] = "; ".join(str(e.get("detail")) for e in exc.errors)
        return _render_course(caller, course_id, status=422, form=form)
    return redirect(url_for("web.instructor.courses.course_page", course_id=course_id,
                            created=assignment.id) + "#assignments-heading", 303)


@bp.get(f"/{COURSE}/grades")
def gradebook_page(course_id: int) -> ResponseReturnValue:
    book = gradebook.gradebook(get_session(), instructor(), course_id)
    return render_template("instructor/gradebook.html", book=book)


@bp.get(f"/{COURSE}/grades.csv")
def gradebook_download(course_id: int) -> ResponseReturnValue:
    return gradebook_csv(gradebook.gradebook(get_session(), instructor(), course_id))

