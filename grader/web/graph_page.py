"""What an exercise or assignment page shows, built from what the use cases return:
the graph with its boxes, the verdicts of the attempt shown, the score, the attempts
used and left, the history, and the sentence that says where to start. The template
renders it; the page's script receives the same facts as JSON after an in-place submit.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup

from engine import Exercise
from grader import i18n
from grader.i18n import gettext as _
from grader.i18n import ngettext, time_text
from grader.models import Feedback
from grader.services.attempts import AttemptRecord
from grader.services.history import AttemptDetail
from grader.web.blanks import BlankView, GraphView, Verdict, graph_view, places, verdicts_of
from grader.web.formats import iso_time, score_text
from grader.web.numbers import typed_from_submission


@dataclass(frozen=True)
class HistoryEntry:
    number: int
    url: str
    score: float
    created_at: datetime
    shown: bool  # the attempt this page shows


@dataclass(frozen=True)
class Attempts:
    """Attempts used and left (None: unlimited)."""

    used: int
    left: int | None

    @property
    def text(self) -> str:
        used = ngettext("{count} attempt used", "{count} attempts used", self.used).format(
            count=self.used)
        if self.left is None:
            return used + " · " + _("no limit")
        return used + " · " + ngettext("{count} left", "{count} left", self.left).format(
            count=self.left)


@dataclass
class ExercisePage:
    title: str
    description: str
    graph: GraphView
    # Where the form posts; None: the boxes are read only.
    action: str | None
    variant: int
    attempts: Attempts
    history: list[HistoryEntry]
    attempt_number: int | None = None  # the attempt shown, if any
    score: float | None = None
    feedback: Feedback = Feedback.FULL
    notice: str | None = None  # why a submit was refused, or why the page is read only
    randomized: bool = False  # its numbers are drawn: new ones may be asked for
    attempt_key: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def data_score(self) -> str:
        """The score as the page's `data-score` holds it (empty before a submit)."""
        return "" if self.score is None else repr(self.score)

    @property
    def score_text(self) -> str:
        return score_text(self.score)

    @property
    def first_error(self) -> BlankView | None:
        return next((b for b in self.graph.blanks if b.first_error), None)

    @property
    def summary(self) -> str | None:
        """One sentence on the attempt shown, when no error is to be pointed at: how it
        went (the first error is named by `summary_text` and the page)."""
        if self.score is None or self.first_error is not None:
            return None
        if self.feedback is Feedback.SCORE:
            return None
        statuses = [b.status for b in self.graph.blanks]
        missing = statuses.count("missing")
        if missing:
            return ngettext("Nothing typed is wrong; {count} blank is left to fill.",
                            "Nothing typed is wrong; {count} blanks are left to fill.",
                            missing).format(count=missing)
        if "consistent" in statuses:
            return _("Nothing is wrong, but some values follow from rounded numbers: keep "
                     "more digits.")
        return _("Every blank is right.")

    @property
    def asks_local(self) -> bool:
        """The exercise has boxes for local gradients, on the edges into each gate."""
        return any(b.key.startswith("local:") for b in self.graph.blanks)

    @property
    def has_verdicts(self) -> bool:
        return any(b.verdict is not None for b in self.graph.blanks)

    @property
    def summary_text(self) -> str | None:
        """The summary as plain text: where to start fixing, with why, or how it went."""
        first = self.first_error
        if first is None:
            return self.summary
        text = _("Start fixing here:") + " " + first.label
        message = first.verdict.message if first.verdict is not None else None
        return f"{text}: {message}" if message else text

    @property
    def result_heading(self) -> str:
        """The result section's title: the attempt shown, or, after a refused submit,
        that nothing was graded (the last attempt stays in the history)."""
        if self.attempt_number is not None:
            return attempt_heading(self.attempt_number)
        if self.has_verdicts:
            return _("Not submitted")
        return _("Result")

    @property
    def attempt_url(self) -> str | None:
        return next((h.url for h in self.history if h.number == self.attempt_number), None)

    @property
    def feedback_note(self) -> str | None:
        if self.feedback is Feedback.LOCATION:
            return _("This assignment shows which blanks are wrong, but not why.")
        if self.feedback is Feedback.SCORE:
            return _("This assignment shows the score only.")
        return None

    def as_json(self) -> dict[str, Any]:
        """What the page's script updates after an in-place submit."""
        first = self.first_error
        return {
            "attempt": self.attempt_number,
            "score": self.score,
            "data_score": self.data_score,
            "score_text": self.score_text,
            "summary_text": self.summary_text,
            "attempt_url": self.attempt_url,
            "result_heading": self.result_heading,
            "attempts_text": self.attempts.text,
            "notice": self.notice.striptags() if isinstance(self.notice, Markup) else (
                self.notice),
            "editable": self.action is not None,
            "has_verdicts": self.has_verdicts,
            "frame_height": round(self.graph.frame_height, 1),
            "first_error": first.element_id if first is not None else None,
            "attempt_key": self.attempt_key,
            "blanks": [
                {"blank": b.key, "status": b.status, "status_text": b.status_text,
                 "icon": b.icon, "message": b.verdict.message if b.verdict else None,
                 "first_error": b.first_error}
                for b in self.graph.blanks
            ],
            "history": [{"number": h.number, "url": h.url, "heading": attempt_heading(h.number),
                         "score_text": score_text(h.score), "time": iso_time(h.created_at),
                         "time_text": time_text(h.created_at)} for h in self.history],
        }


def attempt_heading(number: int) -> str:
    return _("Attempt {number}").format(number=number)


def history_of(records: Sequence[AttemptRecord], url_of: Callable[[int], str],
               shown: int | None) -> list[HistoryEntry]:
    """The attempts listed on a page, latest first."""
    return [HistoryEntry(r.number, url_of(r.number), float(r.result_data()["score"]),
                         r.created_at, r.number == shown) for r in reversed(records)]


def page_of(exercise: Exercise, inputs: Mapping[str, float], variant: int, *,
            attempts: Attempts, history: list[HistoryEntry], action: str | None,
            shown: AttemptDetail | None = None, typed: Mapping[str, str] | None = None,
            verdicts: Mapping[str, Verdict] | None = None, notice: str | None = None,
            feedback: Feedback = Feedback.FULL) -> ExercisePage:
    """An exercise page: with an attempt `shown` (its answers, verdicts and score), or
    with the texts `typed` in a refused submit and its `verdicts`, or empty."""
    first_error = None
    score = None
    if shown is None and verdicts:  # a refused submit: its first box to fix
        first_error = next((p.key for p in places(exercise) if p.key in verdicts), None)
    if shown is not None:
        found, first_error = verdicts_of(shown.result)
        typed = typed if typed is not None else typed_from_submission(shown.answers)
        verdicts = verdicts if verdicts is not None else found
        score = float(shown.result["score"])
        feedback = shown.feedback
    graph = graph_view(exercise, inputs, typed or {}, verdicts or {}, first_error)
    title, description = exercise.text_in(i18n.tag(i18n.current_language()))
    return ExercisePage(title, description, graph, action, variant,
                        attempts, history, shown.number if shown else None, score, feedback,
                        notice, exercise.randomized)
