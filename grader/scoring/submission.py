"""A student's submission: its JSON shape, its field errors, and each blank's number.

Two levels of trouble, kept apart on purpose:

* *field errors* (`SubmissionError`): the document does not fit the exercise: not an
  object, an unknown kind, a node id the exercise does not have, a local gradient for a
  node that is not an input of that gate. The service answers 422 and grades nothing;
* *format errors* (`FormatError`, per blank): the blank exists but holds no usable number
  (null, "", a string, a boolean, NaN, infinity). They are reported blank by blank with
  status "invalid", are not graded, and (in the service) use no attempt. A string such
  as "0,39" (the decimal comma students in Brazil write) is told so, with the number to
  send instead.

Values are kept exactly as sent, so format errors are decided at grading, per blank.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine import Exercise
from engine.quoting import shortened
from grader.scoring import feedback
from grader.scoring.results import KINDS


class SubmissionBody(BaseModel):
    """The JSON shape of a submission (values unchecked: they are judged per blank)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forward: dict[str, Any] = Field(default_factory=dict, description="gate id -> value")
    backward: dict[str, Any] = Field(
        default_factory=dict, description="node id -> d output / d node")
    local: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="gate id -> input id -> d gate / d input")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a submission does not fit its exercise, with where it is."""

    loc: tuple[str, ...]
    message: str

    @property
    def pointer(self) -> str:
        """RFC 6901 JSON Pointer into the submission: "/local/p0/x9" (a key too long to
        echo is cut, engine.quoting)."""
        return "".join("/" + shortened(p).replace("~", "~0").replace("/", "~1")
                       for p in self.loc)

    def __str__(self) -> str:
        where = ".".join(shortened(p) for p in self.loc)
        return f"{where}: {self.message}" if self.loc else self.message

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.message}


class SubmissionError(ValueError):
    """A submission that does not fit its exercise, with every field error found."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


@dataclass(frozen=True, slots=True)
class Submission:
    """Raw blank values by kind, keyed by node id; local by (gate, input)."""

    forward: Mapping[str, Any] = field(default_factory=dict)
    backward: Mapping[str, Any] = field(default_factory=dict)
    local: Mapping[tuple[str, str], Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FormatError:
    """Why a blank's value is not a number; the blank is reported, not graded."""

    message: str


# A number written the Brazilian way, with a decimal comma: "0,39", "-1,5".
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")


def read_number(raw: Any) -> float | FormatError:
    """A blank's value as a finite float, or the format error it is."""
    # bool is an int subclass: test it first, a checkbox is not a number.
    if isinstance(raw, bool):
        return FormatError(feedback.not_a_number_boolean())
    if isinstance(raw, float):
        if math.isfinite(raw):
            return raw
        return FormatError(feedback.not_a_number_nan() if math.isnan(raw) else
                           feedback.not_a_number_infinity())
    if isinstance(raw, int):
        try:
            return float(raw)
        except OverflowError:
            return FormatError(feedback.number_too_large())
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return FormatError(feedback.blank_empty())
    if isinstance(raw, str):
        written = raw.strip()
        if _DECIMAL_COMMA.fullmatch(written):
            return FormatError(feedback.decimal_comma(written, written.replace(",", ".")))
        return FormatError(feedback.not_a_number_text())
    return FormatError(feedback.not_a_number_json(_json_type(raw)))


def _json_type(raw: Any) -> str:
    if isinstance(raw, Mapping):
        return "object"
    if isinstance(raw, list | tuple):
        return "array"
    return type(raw).__name__


def parse_submission(data: Any, exercise: Exercise) -> Submission:
    """Check a submission's shape and node ids against an exercise.

    Raises SubmissionError listing every field error. Blank values are not judged here
    (see `read_number`): a NaN is a format error of its blank, not of the document.
    """
    if isinstance(data, Submission):
        data = {"forward": dict(data.forward), "backward": dict(data.backward),
                "local": _nested(data.local)}
    errors: list[FieldError] = []
    try:
        body = SubmissionBody.model_validate(data)
    except ValidationError as exc:
        errors += [_shape_error(e) for e in exc.errors(include_url=False)]
        # Check the node ids of the sections that do have the right shape, so one
        # answer lists every problem.
        body = _usable_sections(data)
    for kind in KINDS:
        if getattr(body, kind) and kind not in exercise.ask:
            errors.append(FieldError((kind,), feedback.kind_not_asked(kind, exercise.ask)))
    gates = {g.id: g for g in exercise.gates}
    inputs = set(exercise.inputs)
    for node in body.forward:
        if node in inputs:
            errors.append(FieldError(("forward", node), feedback.input_value_not_asked(node)))
        elif node not in gates:
            errors.append(FieldError(("forward", node), feedback.no_such_gate(node)))
    for node in body.backward:
        if node not in gates and node not in inputs:
            errors.append(FieldError(("backward", node), feedback.no_such_node(node)))
    local: dict[tuple[str, str], Any] = {}
    for node, by_input in body.local.items():
        gate = gates.get(node)
        if gate is None:
            why = (feedback.input_has_no_local_gradient(node) if node in inputs
                   else feedback.no_such_gate(node))
            errors.append(FieldError(("local", node), why))
            continue
        for name, raw in by_input.items():
            if name not in gate.inputs:
                errors.append(FieldError(("local", node, name), feedback.not_an_input_of_gate(
                    name, node, list(dict.fromkeys(gate.inputs)))))
            local[(node, name)] = raw
    if errors:
        raise SubmissionError(errors)
    return Submission(forward=body.forward, backward=body.backward, local=local)


def _usable_sections(data: Any) -> SubmissionBody:
    sections: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for kind in KINDS:
            section = data.get(kind)
            if isinstance(section, Mapping) and all(isinstance(k, str) for k in section):
                if kind == "local":
                    section = {k: v for k, v in section.items() if isinstance(v, Mapping)
                               and all(isinstance(i, str) for i in v)}
                sections[kind] = section
    return SubmissionBody.model_validate(sections)


def _nested(local: Mapping[tuple[str, str], Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = {}
    for (gate, name), raw in local.items():
        nested.setdefault(gate, {})[name] = raw
    return nested


def _shape_error(error: Any) -> FieldError:
    loc = tuple(str(p) for p in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return FieldError(loc, feedback.unknown_field())
    if kind in ("dict_type", "model_type"):
        if len(loc) == 0:
            return FieldError(loc, feedback.submission_not_an_object())
        if loc[0] == "local" and len(loc) == 2:
            return FieldError(loc, feedback.local_gate_not_an_object())
        if loc[0] == "local":
            return FieldError(loc, feedback.local_not_an_object())
        return FieldError(loc, feedback.section_not_an_object(loc[0]))
    return FieldError(loc, str(error["msg"]))
