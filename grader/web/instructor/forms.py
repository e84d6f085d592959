"""Reading the instructor pages' forms: an assignment's settings (checked by the same
model as the JSON API's), the local times typed with a time zone, and a YAML text
shown line by line with its problems where they are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from grader.api.schemas import MAX_ATTEMPTS_LIMIT, AssignmentCreate
from grader.i18n import gettext as _
from grader.models import Feedback, ScorePolicy

DEFAULT_TIME_ZONE = "America/Sao_Paulo"
# Offered in the form's list; any IANA name is accepted.
TIME_ZONES = ("America/Sao_Paulo", "America/Manaus", "America/Fortaleza", "America/Recife",
              "America/Belem", "America/Cuiaba", "America/Rio_Branco", "America/Noronha",
              "UTC", "Europe/Lisbon")


@dataclass
class AssignmentForm:
    """An assignment's settings as the form holds them, and each field's problem."""

    values: dict[str, str]
    problems: dict[str, str] = field(default_factory=dict)
    settings: AssignmentCreate | None = None

    @property
    def time_zone(self) -> str:
        return self.values.get("time_zone") or DEFAULT_TIME_ZONE


def empty_assignment_form() -> AssignmentForm:
    return AssignmentForm({"time_zone": DEFAULT_TIME_ZONE, "feedback": Feedback.FULL.value,
                           "score_policy": ScorePolicy.BEST.value})


def read_assignment_form(form: Mapping[str, str]) -> AssignmentForm:
    """The settings of an assignment form, validated as `POST .../assignments` does."""
    names = ("exercise", "max_attempts", "opens_at", "due_at", "time_zone", "feedback",
             "score_policy")
    values = {name: (form.get(name) or "").strip() for name in names}
    for flag in ("new_variant_each_attempt", "solution_after_due"):
        values[flag] = "on" if form.get(flag) else ""
    found = AssignmentForm(values)
    zone: ZoneInfo | None = None
    try:
        zone = ZoneInfo(found.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        found.problems["time_zone"] = _("not a time zone: use a name such as {example}").format(
            example=DEFAULT_TIME_ZONE)
    body: dict[str, Any] = {
        "exercise": values["exercise"],
        "new_variant_each_attempt": bool(values["new_variant_each_attempt"]),
        "solution_after_due": bool(values["solution_after_due"]),
        "feedback": values["feedback"] or Feedback.FULL.value,
        "score_policy": values["score_policy"] or ScorePolicy.BEST.value,
    }
    if values["max_attempts"]:
        try:
            body["max_attempts"] = int(values["max_attempts"])
        except ValueError:
            found.problems["max_attempts"] = _("a whole number, or empty for no limit")
    for name in ("opens_at", "due_at"):
        if values[name] and zone is not None:
            try:
                body[name] = datetime.fromisoformat(values[name]).replace(
                    tzinfo=zone).isoformat()
            except ValueError:
                found.problems[name] = _("a date and time, such as 2026-03-20 23:59")
    if values["solution_after_due"] and not values["due_at"]:
        found.problems["solution_after_due"] = _("needs a due time")
    try:
        settings = AssignmentCreate.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "exercise"
            found.problems.setdefault(name, _field_problem(name, error["type"]))
        return found
    if not found.problems:
        found.settings = settings
    return found


def _field_problem(name: str, kind: str) -> str:
    if name == "max_attempts":
        return _("a whole number from 1 to {limit}, or empty for no limit").format(
            limit=MAX_ATTEMPTS_LIMIT)
    if name == "due_at":
        return _("must be after the opening time")
    if name == "exercise":
        return _("choose an exercise")
    if name == "feedback":
        return _("choose what students are shown")
    return _("not valid") + f" ({kind})"


# ---------------------------------------------------------------- YAML problems


@dataclass(frozen=True)
class YamlProblem:
    line: int | None
    node: str | None
    field: str | None
    message: str
    file: str | None

    @property
    def anchor(self) -> str | None:
        return f"line-{self.line}" if self.line is not None else None


@dataclass(frozen=True)
class YamlLine:
    number: int
    text: str
    problems: list[YamlProblem]

    @property
    def anchor(self) -> str:
        return f"line-{self.number}"


def yaml_problems(errors: Sequence[Mapping[str, Any]]) -> list[YamlProblem]:
    """The located problems of an InvalidExercise, in the order of their lines."""
    found = [YamlProblem(e.get("line"), e.get("node"), e.get("field"),
                         str(e.get("detail") or ""), e.get("file")) for e in errors]
    return sorted(found, key=lambda p: (p.line is None, p.line or 0))


def yaml_lines(text: str, problems: Sequence[YamlProblem]) -> list[YamlLine]:
    """The text's lines, numbered, each with the problems found on it (a problem on a
    line past the end is put on the last line)."""
    lines = text.splitlines() or [""]
    by_line: dict[int, list[YamlProblem]] = {}
    for problem in problems:
        if problem.line is not None:
            by_line.setdefault(min(max(problem.line, 1), len(lines)), []).append(problem)
    return [YamlLine(k, line, by_line.get(k, [])) for k, line in enumerate(lines, start=1)]
