"""/api/v1/courses: courses, enrollments, assignments and the gradebook."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, request

from grader import i18n
from grader.api import present, schemas
from grader.api.operations import Reply, operation
from grader.models import Role
from grader.rate_limits import SIGN_IN
from grader.services import courses, sign_in
from grader.services import gradebook as grades
from grader.services.accounts import Caller
from grader.sessions import get_session

bp = Blueprint("courses", __name__, url_prefix="/courses")

# Integer ids above the column's range would fail in the database, not in routing.
COURSE = "<row_id:course_id>"
CSV_INJECTION_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@bp.post("")
@operation("Create a course; the caller becomes its instructor", response=schemas.CourseOut,
           status=201, body=schemas.CourseCreate, roles=(Role.INSTRUCTOR,),
           problems=(400, 403, 413, 415, 422))
def create_course(actor: Caller, body: schemas.CourseCreate) -> Reply:
    course = courses.create_course(get_session(), actor, body.title)
    out = schemas.CourseOut(id=course.id, title=course.title, role="instructor",
                            created_at=course.created_at)
    return Reply(out, 201, {"Location": f"/api/v1/courses/{course.id}"})


@bp.get("")
@operation("Courses the caller is enrolled in (admins: all)", response=list[schemas.CourseOut])
def list_courses(actor: Caller) -> list[schemas.CourseOut]:
    return [
        schemas.CourseOut(id=c.id, title=c.title, role=role, created_at=c.created_at)
        for c, role in courses.visible_courses(get_session(), actor)
    ]


@bp.get(f"/{COURSE}")
@operation("One course", response=schemas.CourseOut, problems=(403, 404))
def get_course(actor: Caller, course_id: int) -> schemas.CourseOut:
    course, enrollment = courses.course_access(get_session(), actor, course_id)
    return schemas.CourseOut(id=course.id, title=course.title,
                             role=enrollment.role if enrollment else None,
                             created_at=course.created_at)


@bp.post(f"/{COURSE}/enrollments")
@operation("Enroll a user (course instructors). As a student, an unknown username gets a "
           "student account (as a roster import does): the answer is the same whether or "
           "not it existed. As an instructor, it needs an instructor account (422 alike "
           "for a student account and for none)",
           response=schemas.EnrollmentOut, status=201,
           body=schemas.EnrollmentCreate, roles=(Role.INSTRUCTOR,),
           problems=(400, 403, 404, 409, 413, 415, 422))
def enroll(actor: Caller, course_id: int, body: schemas.EnrollmentCreate) -> schemas.EnrollmentOut:
    enrollment = courses.enroll(get_session(), actor, course_id, body.user, body.role)
    return schemas.EnrollmentOut(user=body.user, role=enrollment.role,
                                 created_at=enrollment.created_at)


@bp.get(f"/{COURSE}/enrollments")
@operation("The course's enrollments (course instructors)",
           response=list[schemas.EnrollmentOut], roles=(Role.INSTRUCTOR,), problems=(403, 404))
def list_enrollments(actor: Caller, course_id: int) -> list[schemas.EnrollmentOut]:
    return [
        schemas.EnrollmentOut(user=e.user.username, role=e.role, created_at=e.created_at)
        for e in courses.course_enrollments(get_session(), actor, course_id)
    ]


@bp.post(f"/{COURSE}/sign-in-links")
@operation("Fresh one-time sign-in links to the pages for the course's students, or for "
           "those named (course instructors); each URL is shown only in this response",
           response=list[schemas.SignInLinkOut], status=201, body=schemas.SignInLinksCreate,
           body_required=False, roles=(Role.INSTRUCTOR,),
           problems=(400, 403, 404, 413, 415, 422), rate_limit=SIGN_IN)
def create_sign_in_links(actor: Caller, course_id: int,
                         body: schemas.SignInLinksCreate | None) -> list[schemas.SignInLinkOut]:
    settings = current_app.extensions["grader.settings"]
    links = sign_in.course_links(get_session(), actor, course_id,
                                 body.users if body is not None else None,
                                 settings.sign_in_link_hours)
    return [schemas.SignInLinkOut(user=link.username, url=link.url(settings.base_url),
                                  expires_at=link.expires_at) for link in links]


@bp.post(f"/{COURSE}/assignments")
@operation("Set an exercise as an assignment (course instructors)",
           response=schemas.AssignmentOut, status=201, body=schemas.AssignmentCreate,
           roles=(Role.INSTRUCTOR,), problems=(400, 403, 404, 413, 415, 422))
def create_assignment(actor: Caller, course_id: int, body: schemas.AssignmentCreate) -> Reply:
    assignment = courses.create_assignment(
        get_session(), actor, course_id, body.exercise, body.max_attempts, body.opens_at,
        body.due_at, body.new_variant_each_attempt, body.feedback, body.solution_after_due,
        body.score_policy,
    )
    return Reply(present.assignment_out(assignment), 201,
                 {"Location": f"/api/v1/assignments/{assignment.id}"})


@bp.get(f"/{COURSE}/assignments")
@operation("The course's assignments (enrolled users)", response=list[schemas.AssignmentOut],
           problems=(403, 404))
def list_assignments(actor: Caller, course_id: int) -> list[schemas.AssignmentOut]:
    return [present.assignment_out(a)
            for a in courses.course_assignments(get_session(), actor, course_id)]


@bp.get(f"/{COURSE}/grades")
@operation("Best score per student per assignment (course instructors); CSV with "
           "Accept: text/csv", response=schemas.GradebookOut, roles=(Role.INSTRUCTOR,),
           problems=(403, 404), also_produces=("text/csv",))
def gradebook(actor: Caller, course_id: int) -> schemas.GradebookOut | Response:
    book = grades.gradebook(get_session(), actor, course_id)
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
        return gradebook_csv(book)
    return schemas.GradebookOut(
        course=book.course.id,
        assignments=[
            schemas.GradebookAssignment(id=a.id, exercise=a.exercise_version.exercise_id,
                                        title=title, score_policy=a.score_policy)
            for a, title in book.titles(i18n.tag(i18n.current_language()))
        ],
        students=[
            schemas.GradebookStudent(
                user=row.username,
                score={str(k): v for k, v in row.scores.items()},
                best={str(k): v for k, v in row.best.items()},
                attempts={str(k): v for k, v in row.attempts.items()},
            )
            for row in book.rows
        ],
    )


def gradebook_csv(book: grades.Gradebook) -> Response:
    """One row per student, one column per assignment: the score that counts (by the
    assignment's score policy), blank when the student made no attempt."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["user", *(safe_cell(f"{a.id}: {title}") for a, title in book.titles(
        i18n.tag(i18n.current_language())))])
    for row in book.rows:
        writer.writerow([safe_cell(row.username),
                         *("" if s is None else f"{s:g}" for s in row.scores.values())])
    filename = f"course-{book.course.id}-grades.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def safe_cell(text: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula.
    return "'" + text if text.startswith(CSV_INJECTION_PREFIXES) else text
