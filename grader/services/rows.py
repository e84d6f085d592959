"""Versions, variants and assignments as the submit path reads them: plain rows with
only the columns it uses, read with SQLAlchemy Core in one statement (loading ORM
objects was a good part of a submission's Python time). They have the ORM objects'
attribute names, so helpers take either."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from engine import Exercise
from grader.models import Assignment, ExerciseVersion, VariantRecord
from grader.services.exercises import exercise_of_version, parsed


@dataclass(frozen=True, slots=True)
class VersionRow:
    """An exercise version, with its parsed spec."""

    id: int
    exercise_id: str
    number: int
    content_hash: str
    practice: bool
    exercise: Exercise


@dataclass(frozen=True, slots=True)
class VariantRow:
    id: int
    number: int
    seed: int | None
    inputs: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    """An assignment, with its pinned version."""

    id: int
    max_attempts: int | None
    opens_at: datetime | None
    due_at: datetime | None
    new_variant_each_attempt: bool
    exercise_version: VersionRow
    # Placed in an LMS: each attempt's score goes back to it (grader.lti.outbox).
    lti_linked: bool = False


VersionLike = ExerciseVersion | VersionRow
VariantLike = VariantRecord | VariantRow
AssignmentLike = Assignment | AssignmentRow

# The columns of a version and of a variant, labelled for `version_row`/`variant_row`.
VERSION_COLUMNS = (
    ExerciseVersion.id.label("version_id"), ExerciseVersion.exercise_id,
    ExerciseVersion.number.label("version_number"), ExerciseVersion.content_hash,
    ExerciseVersion.practice,
)
VARIANT_COLUMNS = (
    VariantRecord.id.label("variant_id"), VariantRecord.number.label("variant_number"),
    VariantRecord.seed, VariantRecord.inputs,
)


def exercise_of(version: VersionLike) -> Exercise:
    """The parsed spec of a version, as a row or a stored object."""
    if isinstance(version, VersionRow):
        return version.exercise
    return exercise_of_version(version)


def version_row(session: Session, row: Row[*tuple[Any, ...]]) -> VersionRow:
    """The version in a row with VERSION_COLUMNS (its text read only to parse it)."""
    def load_text() -> str:
        text: str = session.execute(
            select(ExerciseVersion.yaml_text).where(ExerciseVersion.id == row.version_id)
        ).scalar_one()
        return text

    return VersionRow(row.version_id, row.exercise_id, row.version_number, row.content_hash,
                      row.practice, parsed(row.content_hash, load_text))


def variant_row(row: Row[*tuple[Any, ...]]) -> VariantRow | None:
    """The variant in a row with VARIANT_COLUMNS; None where an outer join found none."""
    if row.variant_id is None:
        return None
    return VariantRow(row.variant_id, row.variant_number, row.seed, row.inputs)
