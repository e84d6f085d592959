"""Importing a course's roster from CSV: one student a line, `username` first, then
optionally a display name and an email. Accounts carry a username alone, so the other
columns are read (a line may have them) but not stored.

Every line is reported: a student account created and enrolled, an existing account
enrolled, one already enrolled, or the line's problem with its line number. A line
whose username is malformed, or names an account that cannot be a student here, is
skipped; the good lines are imported together, in one transaction.
"""

from __future__ import annotations

import csv
import enum
import io
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.i18n import gettext as _
from grader.i18n import ngettext
from grader.models import CourseRole, Enrollment, Role, User
from grader.services.accounts import USERNAME, USERNAME_MAX, Caller, require_role
from grader.services.courses import course_access
from grader.services.errors import ValidationFailed
from grader.services.transactions import transaction

MAX_ROSTER_BYTES = 256 * 1024
MAX_ROSTER_LINES = 2000
HEADER_NAMES = {"username", "user", "login", "usuario", "usuário"}


class LineOutcome(enum.StrEnum):
    CREATED = "created"  # a new student account, enrolled (told to admins only)
    ENROLLED = "enrolled"  # enrolled as a student (to an instructor: new or existing)
    ALREADY = "already"  # already in the course: nothing changed
    SKIPPED = "skipped"  # the line's problem is in `detail`


@dataclass(frozen=True)
class RosterLine:
    line: int  # 1-based, as an editor numbers the file's lines
    username: str
    outcome: LineOutcome
    detail: str = ""


@dataclass(frozen=True)
class RosterReport:
    lines: list[RosterLine]
    extra_columns: bool  # some line had a display name or email (not stored)

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)


@dataclass(frozen=True)
class _Wanted:
    line: int
    username: str


def read_roster(text: str) -> tuple[list[_Wanted], list[RosterLine], bool]:
    """The usernames of a roster's lines, the lines refused as they stand, and whether
    any line had more than a username. ValidationFailed for a roster over the limits."""
    if len(text.encode("utf-8")) > MAX_ROSTER_BYTES:
        raise ValidationFailed(_("the roster is too large"), errors=[{
            "pointer": "/roster", "detail": _("at most {size} KiB").format(
                size=MAX_ROSTER_BYTES // 1024)}])
    rows = list(enumerate(csv.reader(io.StringIO(text.lstrip("\ufeff"))), start=1))
    if len(rows) > MAX_ROSTER_LINES:
        raise ValidationFailed(_("the roster has too many lines"), errors=[{
            "pointer": "/roster", "detail": ngettext(
                "at most {count} line", "at most {count} lines", MAX_ROSTER_LINES).format(
                    count=MAX_ROSTER_LINES)}])
    wanted: list[_Wanted] = []
    refused: list[RosterLine] = []
    extra = False
    seen: dict[str, int] = {}
    for number, row in rows:
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue  # blank lines are allowed anywhere
        username = cells[0]
        if number == rows[0][0] and username.lower() in HEADER_NAMES:
            continue  # a header line
        extra = extra or any(cells[1:])
        problem = _username_problem(username)
        if problem is None and username in seen:
            problem = _("already on line {line}").format(line=seen[username])
        if problem is None and len(cells) > 3 and any(cells[3:]):
            problem = _("too many columns: username, display name and email at most")
        if problem is not None:
            refused.append(RosterLine(number, username, LineOutcome.SKIPPED, problem))
            continue
        seen[username] = number
        wanted.append(_Wanted(number, username))
    return wanted, refused, extra


def _username_problem(username: str) -> str | None:
    if not username:
        return _("no username in the first column")
    if len(username) > USERNAME_MAX or not USERNAME.fullmatch(username):
        return _("not a valid username: letters, digits and . _ @ + - only, starting "
                 "with a letter or digit, at most {count} characters").format(
                     count=USERNAME_MAX)
    return None


def import_roster(session: Session, actor: Caller, course_id: int, text: str) -> RosterReport:
    """Enrol the students of a roster in a course, creating the accounts that do not
    exist yet (reported as created to admins; to instructors, as enrolled like the
    existing ones) (course instructors and admins; NotFound, Forbidden; ValidationFailed
    for a roster over the limits; Conflict when another import adds the same users at
    the same moment)."""
    require_role(actor, Role.INSTRUCTOR)
    wanted, refused, extra = read_roster(text)
    done: list[RosterLine] = []
    with transaction(session, conflict=_("the roster changed at the same time; import it "
                                         "again")):
        course_access(session, actor, course_id, manage=True)
        names = [w.username for w in wanted]
        existing = {u.username: u for u in session.execute(
            select(User).where(User.username.in_(names))).scalars()} if names else {}
        enrolled = set(session.execute(
            select(Enrollment.user_id).where(Enrollment.course_id == course_id)).scalars())
        for want in wanted:
            user = existing.get(want.username)
            if user is None:
                user = User(username=want.username, role=Role.STUDENT)
                session.add(user)
                session.flush()
                # Only an admin, who sees every account anyway, is told which were new:
                # to an instructor a report must not say which usernames existed.
                outcome = (LineOutcome.CREATED if actor.role is Role.ADMIN
                           else LineOutcome.ENROLLED)
            elif user.id in enrolled:
                done.append(RosterLine(want.line, want.username, LineOutcome.ALREADY))
                continue
            else:
                outcome = LineOutcome.ENROLLED
            session.add(Enrollment(course_id=course_id, user_id=user.id,
                                   role=CourseRole.STUDENT))
            enrolled.add(user.id)
            done.append(RosterLine(want.line, want.username, outcome))
        session.flush()
    return RosterReport(sorted([*done, *refused], key=lambda line: line.line), extra)
