"""The exercise pages (practice, `/exercises/ID`) and assignment pages
(`/assignments/ID`): the graph to fill in, submitting it, and each earlier attempt
drawn on the graph (`.../attempts/N`).

A submit is a form POST answered with a redirect to the attempt's page (`303 See
Other`), or, from the page's script (`Accept: application/json`), with the page's
facts as JSON. A refused submit (a box that holds no number, no attempts left, the
assignment closed) shows the page again with the boxes as typed and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded
from markupsafe import Markup, escape

from engine import Exercise
from grader import rate_limits
from grader.i18n import gettext as _
from grader.i18n import time_text
from grader.models import utcnow
from grader.services import assignments, history, practice, solutions
from grader.services.accounts import Caller
from grader.services.assignments import AssignmentView
from grader.services.errors import (
    AssignmentClosed,
    Conflict,
    IdempotencyKeyReused,
    PracticeClosed,
    SolutionNotReleased,
    ValidationFailed,
)
from grader.services.history import AttemptDetail
from grader.services.rows import exercise_of
from grader.sessions import get_session
from grader.web.blanks import Verdict, format_verdicts, places
from grader.web.browser import check_csrf, signed_in
from grader.web.formats import iso_time
from grader.web.graph_page import Attempts, ExercisePage, history_of, page_of
from grader.web.numbers import given_number, submission_from_form

bp = Blueprint("exercises", __name__)

ASSIGNMENT = "<int(max=2147483647):assignment_id>"
NUMBER = "<int(max=2147483647):number>"
ATTEMPT_KEY_FIELD = "attempt_key"
VARIANT_FIELD = "variant"


# ---------------------------------------------------------------- practice


def _practice_url(exercise_id: str) -> str:
    return url_for("web.exercises.practice_page", exercise_id=exercise_id)


def _practice_attempt_url(exercise_id: str) -> Callable[[int], str]:
    return lambda number: url_for("web.exercises.practice_attempt_page",
                                  exercise_id=exercise_id, number=number)


def _practice_page(caller: Caller, exercise_id: str, number: int | None = None, *,
                   typed: dict[str, str] | None = None,
                   verdicts: dict[str, Verdict] | None = None,
                   notice: str | None = None) -> ExercisePage:
    """The practice page of the user's current variant (with their latest attempt on
    it), or of attempt `number`."""
    session = get_session()
    version, variant = practice.practice_variant(session, caller, exercise_id)
    records = practice.practice_attempts(session, caller, exercise_id)
    current = (version.number, variant.number)
    shown: AttemptDetail | None
    if typed is not None:  # a refused submit: the boxes as typed, no attempt
        shown = None
    elif number is None:
        latest = records[-1] if records else None
        shown = history.practice_attempt(session, caller, exercise_id, latest.number) if (
            latest is not None and (latest.version, latest.variant) == current) else None
    else:
        shown = history.practice_attempt(session, caller, exercise_id, number)
    editable = shown is None or (shown.number == records[-1].number
                                 and (shown.version, shown.variant) == current)
    if not editable:
        notice = notice or _("An earlier attempt, as it was graded.")
    attempts = Attempts(records[-1].number if records else 0, None)
    entries = history_of(records, _practice_attempt_url(exercise_id),
                         shown.number if shown else None)
    action = _practice_url(exercise_id) if editable else None
    if shown is not None:
        return page_of(shown.exercise, shown.inputs, shown.variant, attempts=attempts,
                       history=entries, action=action, shown=shown, typed=typed,
                       verdicts=verdicts, notice=notice)
    return page_of(exercise_of(version), variant.inputs, variant.number, attempts=attempts,
                   history=entries, action=action, typed=typed, verdicts=verdicts,
                   notice=notice)


def _render_practice(exercise_id: str, page: ExercisePage, status: int = 200) -> Response:
    new_variant = url_for("web.exercises.new_variant", exercise_id=exercise_id) if (
        page.randomized and page.action is not None) else None
    return _render(page, status, _practice_url(exercise_id), new_variant=new_variant)


@bp.errorhandler(PracticeClosed)
def practice_closed(exc: PracticeClosed) -> Response:
    """Practice refused while an assignment with the same numbers is open: why, and
    until when, in the reader's language."""
    body = render_template("practice_closed.html", until=exc.until,
                           assignment=exc.assignment)
    return Response(body, status=403, mimetype="text/html")


@bp.get("/exercises/<exercise_id:exercise_id>")
def practice_page(exercise_id: str) -> ResponseReturnValue:
    return _render_practice(exercise_id, _practice_page(signed_in(), exercise_id))


@bp.get(f"/exercises/<exercise_id:exercise_id>/attempts/{NUMBER}")
def practice_attempt_page(exercise_id: str, number: int) -> ResponseReturnValue:
    return _render_practice(exercise_id, _practice_page(signed_in(), exercise_id, number))


@bp.post("/exercises/<exercise_id:exercise_id>/variants")
def new_variant(exercise_id: str) -> ResponseReturnValue:
    caller = signed_in()
    check_csrf()
    practice.new_practice_variant(get_session(), caller, exercise_id)
    return redirect(_practice_url(exercise_id), 303)


@bp.post("/exercises/<exercise_id:exercise_id>")
def practice_submit(exercise_id: str) -> ResponseReturnValue:
    caller = signed_in()
    check_csrf()
    session = get_session()
    version, variant = practice.practice_variant(session, caller, exercise_id)
    exercise = exercise_of(version)

    def again(status: int, notice: str, verdicts: dict[str, Verdict] | None = None
              ) -> ResponseReturnValue:
        page = _practice_page(caller, exercise_id, typed=_typed(exercise),
                              verdicts=verdicts, notice=notice)
        return _answer(page, status, lambda: _render_practice(exercise_id, page, status))

    limited = _rate_limited()
    if limited is not None:
        return _with_headers(again(429, limited[0]), limited[1])
    refusal = _refusal(exercise, variant.number)
    if refusal is not None:
        return again(*refusal)
    try:
        outcome = practice.submit_practice(session, caller, exercise_id,
                                           _submission(exercise), _attempt_key())
    except IdempotencyKeyReused:
        return again(409, _already_submitted())
    except ValidationFailed as exc:
        return again(422, _not_graded(), format_verdicts(exc.errors))
    number = outcome.attempt.number
    page = _practice_page(caller, exercise_id, number)
    return _answer(page, 200, lambda: _after_submit(
        _practice_attempt_url(exercise_id)(number), page))


# ---------------------------------------------------------------- assignments


def _assignment_attempt_url(assignment_id: int) -> Callable[[int], str]:
    return lambda number: url_for("web.exercises.assignment_attempt_page",
                                  assignment_id=assignment_id, number=number)


def _assignment_page(caller: Caller, assignment_id: int, number: int | None = None, *,
                     typed: dict[str, str] | None = None,
                     verdicts: dict[str, Verdict] | None = None,
                     notice: str | None = None) -> tuple[ExercisePage, AssignmentView]:
    session = get_session()
    view = assignments.assignment_variant(session, caller, assignment_id)
    records = assignments.assignment_attempts(session, caller, assignment_id, None)
    shown: AttemptDetail | None
    if typed is not None:  # a refused submit: the boxes as typed, no attempt
        shown = None
    elif number is None:
        latest = records[-1] if records else None
        shown = history.assignment_attempt(session, caller, assignment_id, latest.number) if (
            latest is not None and latest.variant == view.variant.number) else None
    else:
        shown = history.assignment_attempt(session, caller, assignment_id, number)
    accepts = view.accepts_attempts(utcnow())
    editable = accepts and (shown is None or (
        shown.number == view.attempts_used and shown.variant_id == view.variant.id))
    if not accepts:
        notice = notice or _closed_notice(view)
    elif not editable and shown is not None and shown.number == view.attempts_used:
        # The latest attempt, but the next one is on new numbers (the assignment draws
        # them for each attempt): say so, and lead there.
        notice = notice or Markup(escape(_(
            "Your next attempt has new numbers. {link}"))).format(link=Markup(
                '<a href="{}">{}</a>').format(
                url_for("web.exercises.assignment_page", assignment_id=assignment_id),
                _("Try again with new numbers")))
    elif not editable:
        notice = notice or _("An earlier attempt, as it was graded.")
    attempts = Attempts(view.attempts_used, view.attempts_left)
    entries = history_of(records, _assignment_attempt_url(assignment_id),
                         shown.number if shown else None)
    action = url_for("web.exercises.assignment_submit",
                     assignment_id=assignment_id) if editable else None
    version = view.assignment.exercise_version
    if shown is not None:
        page = page_of(shown.exercise, shown.inputs, shown.variant, attempts=attempts,
                       history=entries, action=action, shown=shown, typed=typed,
                       verdicts=verdicts, notice=notice, feedback=view.feedback)
    else:
        page = page_of(exercise_of(version), view.variant.inputs, view.variant.number,
                       attempts=attempts, history=entries, action=action, typed=typed,
                       verdicts=verdicts, notice=notice, feedback=view.feedback)
    return page, view


def _closed_notice(view: AssignmentView) -> str:
    due = view.assignment.due_at
    if due is not None and utcnow() >= due:
        # A time element: the page's script writes it in the reader's time zone, as the
        # due time above.
        return Markup(escape(_("This assignment was due at {time}: it takes no more "
                               "attempts."))).format(time=Markup(
            '<time datetime="{}" data-local>{}</time>').format(iso_time(due), time_text(due)))
    return _("Every attempt at this assignment has been used.")


def _render_assignment(page: ExercisePage, view: AssignmentView, status: int = 200
                       ) -> Response:
    return _render(page, status, url_for("web.exercises.assignment_page",
                                         assignment_id=view.assignment.id),
                   assignment=view.assignment, solution_url=_solution_url(view))


def _solution_url(view: AssignmentView) -> str | None:
    """Where the worked solution is, once the assignment shows it to students."""
    try:
        solutions.check_solution_released(view.assignment, utcnow())
    except SolutionNotReleased:
        return None
    return url_for("web.solutions.assignment_solution", assignment_id=view.assignment.id)


@bp.get(f"/assignments/{ASSIGNMENT}")
def assignment_page(assignment_id: int) -> ResponseReturnValue:
    page, view = _assignment_page(signed_in(), assignment_id)
    return _render_assignment(page, view)


@bp.get(f"/assignments/{ASSIGNMENT}/attempts/{NUMBER}")
def assignment_attempt_page(assignment_id: int, number: int) -> ResponseReturnValue:
    page, view = _assignment_page(signed_in(), assignment_id, number)
    return _render_assignment(page, view)


@bp.post(f"/assignments/{ASSIGNMENT}")
def assignment_submit(assignment_id: int) -> ResponseReturnValue:
    caller = signed_in()
    check_csrf()
    session = get_session()
    view = assignments.assignment_variant(session, caller, assignment_id)
    exercise = exercise_of(view.assignment.exercise_version)

    def again(status: int, notice: str, verdicts: dict[str, Verdict] | None = None
              ) -> ResponseReturnValue:
        page, current = _assignment_page(caller, assignment_id, typed=_typed(exercise),
                                         verdicts=verdicts, notice=notice)
        return _answer(page, status, lambda: _render_assignment(page, current, status))

    limited = _rate_limited()
    if limited is not None:
        return _with_headers(again(429, limited[0]), limited[1])
    refusal = _refusal(exercise, view.variant.number)
    if refusal is not None:
        return again(*refusal)
    try:
        outcome = assignments.submit_assignment(session, caller, assignment_id,
                                                _submission(exercise), _attempt_key())
    except IdempotencyKeyReused:
        return again(409, _already_submitted())
    except ValidationFailed as exc:
        return again(422, _not_graded(), format_verdicts(exc.errors))
    except (Conflict, AssignmentClosed) as exc:
        return again(409 if isinstance(exc, Conflict) else 403, exc.detail)
    number = outcome.attempt.number
    page, _view = _assignment_page(caller, assignment_id, number)
    return _answer(page, 200, lambda: _after_submit(
        _assignment_attempt_url(assignment_id)(number), page))


# ---------------------------------------------------------------- both


def _rate_limited() -> tuple[str, dict[str, str]] | None:
    """Counts the submit; over a limit, the 429's detail and Retry-After: the page comes
    back with the boxes as typed and the reason."""
    try:
        rate_limits.check(rate_limits.SUBMIT)
    except RateLimitExceeded as exc:
        return rate_limits.refusal(exc)
    return None


def _with_headers(answer: ResponseReturnValue, headers: dict[str, str]) -> Response:
    response = make_response(answer)
    response.headers.update(headers)
    return response


def _typed(exercise: Exercise) -> dict[str, str]:
    """The boxes' texts as the form sent them."""
    return {p.key: request.form.get(p.key, "") for p in places(exercise)}


def _submission(exercise: Exercise) -> dict[str, Any]:
    return submission_from_form(request.form, [p.key for p in places(exercise)])


def _refusal(exercise: Exercise, variant: int) -> tuple[int, str] | None:
    """Why a form is not submitted at all: it was made for numbers that have been
    replaced since, or every box is empty."""
    sent = request.form.get(VARIANT_FIELD)
    if sent is not None and sent != str(variant):
        return 409, _("New numbers were drawn for this exercise after this page was "
                      "opened: your answers were not submitted. Copy what you need, then "
                      "reload the page.")
    if not _submission(exercise):
        return 422, _("Every box is empty: fill in at least one before submitting. "
                      "No attempt was used.")
    return None


def _attempt_key() -> str | None:
    """The form's own key: a form sent twice (a double click, a retried request) makes
    one attempt."""
    key = request.form.get(ATTEMPT_KEY_FIELD, "").strip()
    if not key or len(key) > 100 or not key.isprintable():
        return None
    return "page:" + key


def _already_submitted() -> str:
    return _("This page was already submitted with other answers. Reload it to submit "
             "again.")


def _not_graded() -> str:
    return _("Some boxes hold no number: fix them and submit again. Nothing was graded, "
             "and no attempt was used.")


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json")


def _answer(page: ExercisePage, status: int, html: Callable[[], ResponseReturnValue]
            ) -> ResponseReturnValue:
    """JSON for the page's script, else the page."""
    if _wants_json():
        response = jsonify(page.as_json())
        response.status_code = status
        return response
    return html()


def _after_submit(url: str, page: ExercisePage) -> ResponseReturnValue:
    fragment = "#first-error" if page.first_error is not None else "#result"
    return redirect(url + fragment, 303)


def _render(page: ExercisePage, status: int, current_url: str, **links: object
            ) -> Response:
    body = render_template("exercise.html", page=page, example=given_number(0.39),
                           current_url=current_url, **links)
    return Response(body, status=status, mimetype="text/html")
