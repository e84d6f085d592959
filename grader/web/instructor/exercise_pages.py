"""The exercise library: every exercise, uploading a new spec or a new version of
one (its problems shown at their lines), and the preview of any seed's worked
solution drawn on the circuit, with its steps."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from grader import i18n
from grader.api.schemas import SEED_MAX
from grader.i18n import gettext as _
from grader.services import exercise_library, solutions
from grader.services.errors import Forbidden, InvalidExercise, ValidationFailed
from grader.sessions import get_session
from grader.web.browser import check_csrf
from grader.web.instructor.access import instructor, max_exercise_bytes
from grader.web.instructor.drawing import solution_drawing, solution_number, step_views
from grader.web.instructor.forms import yaml_lines, yaml_problems

bp = Blueprint("exercises", __name__, url_prefix="/exercises")

TEXT_FIELD = "yaml"
FILE_FIELD = "file"


@bp.get("")
def library() -> ResponseReturnValue:
    caller = instructor()
    return render_template("instructor/library.html",
                           entries=exercise_library.library(
                               get_session(), caller, i18n.tag(i18n.current_language())))


def _edit_page(*, exercise_id: str | None, text: str, status: int = 200,
               error: ValidationFailed | Forbidden | None = None,
               stored: str | None = None, title: str | None = None) -> Response:
    problems = yaml_problems(error.errors) if isinstance(error, InvalidExercise) else []
    body = render_template(
        "instructor/exercise_edit.html", exercise_id=exercise_id, text=text, title=title,
        error=error, problems=problems,
        lines=yaml_lines(text, problems) if problems else [], stored=stored,
        max_kib=max_exercise_bytes() // 1024)
    return Response(body, status=status, mimetype="text/html")


@bp.get("/new")
def new_exercise() -> ResponseReturnValue:
    instructor()
    return _edit_page(exercise_id=None, text="")


@bp.get("/<exercise_id:exercise_id>/edit")
def edit_exercise(exercise_id: str) -> ResponseReturnValue:
    source = exercise_library.exercise_source(get_session(), instructor(), exercise_id)
    stored = request.args.get("stored")
    return _edit_page(exercise_id=exercise_id, text=source.text, title=source.title,
                      stored=stored if stored and stored.isascii() and stored.isdigit() else None)


@bp.post("/new")
def upload_exercise() -> ResponseReturnValue:
    return _store(None)


@bp.post("/<exercise_id:exercise_id>/edit")
def update_exercise(exercise_id: str) -> ResponseReturnValue:
    return _store(exercise_id)


def _sent_text() -> str | None:
    """The spec sent: an uploaded file's text when one was chosen, else the text
    area's; None when the file is not UTF-8 text."""
    upload = request.files.get(FILE_FIELD)
    if upload is not None and upload.filename:
        try:
            return bytes(upload.read(max_exercise_bytes() + 1)).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(request.form.get(TEXT_FIELD) or "").replace("\r\n", "\n")


def _store(exercise_id: str | None) -> ResponseReturnValue:
    caller = instructor()
    check_csrf()
    text = _sent_text()
    if text is None:
        return _edit_page(exercise_id=exercise_id, text="", status=422, error=ValidationFailed(
            _("The file is not UTF-8 text: save it as UTF-8 and upload it again.")))
    if not text.strip():
        return _edit_page(exercise_id=exercise_id, text=text, status=422,
                          error=ValidationFailed(_("The text is empty: paste a spec or "
                                                   "choose a file.")))
    try:
        stored = exercise_library.store_text(get_session(), caller, text,
                                             max_exercise_bytes(), exercise_id)
    except ValidationFailed as exc:
        return _edit_page(exercise_id=exercise_id, text=text, status=422, error=exc)
    except Forbidden as exc:
        return _edit_page(exercise_id=exercise_id, text=text, status=403, error=exc)
    version = stored.version
    return redirect(url_for("web.instructor.exercises.edit_exercise",
                            exercise_id=version.exercise_id, stored=version.number), 303)


@bp.get("/<exercise_id:exercise_id>/preview")
def preview(exercise_id: str) -> ResponseReturnValue:
    caller = instructor()
    typed = (request.args.get("seed") or "").strip()
    # ASCII digits only ("²" is a digit to str.isdigit, not to int), and few of them.
    seed = int(typed) if (typed.isascii() and typed.isdigit() and len(typed) <= 12
                          and int(typed) <= SEED_MAX) else None
    notice = None
    if typed and seed is None:
        notice = _("A seed is a whole number from 0 to {max}: showing seed 0.").format(
            max=SEED_MAX)
    view = solutions.exercise_solution(get_session(), caller, exercise_id, None, seed or 0)
    solution = view.solution
    return render_template(
        "instructor/preview.html", view=view, exercise=solution.exercise,
        seed=solution.variant.seed, typed_seed=typed if seed is None else str(seed or 0),
        notice=notice, drawing=solution_drawing(solution), steps=step_views(solution),
        number=solution_number)
