"""Importing a roster from CSV: accounts created and enrolled, existing ones enrolled,
each line reported, bad lines located by number, the limits."""

from __future__ import annotations

import pytest

from grader import i18n, sessions
from grader.models import Role
from grader.services import accounts, courses, roster
from grader.services.errors import Forbidden, NotFound, ValidationFailed
from grader.services.roster import LineOutcome, read_roster


def test_reading_skips_a_header_and_blank_lines_and_locates_bad_lines():
    with i18n.use_language(i18n.ENGLISH):
        wanted, refused, extra = read_roster(
            "username,display name,email\n"
            "ann,Ann Lima,ann@example.edu\n"
            "\n"
            "bad name,Bad,\n"
            "ann,Ann again,\n"
            ",No username,x@example.edu\n"
            "bob\n"
            "cat,C,c@x,extra\n")
    assert [(w.line, w.username) for w in wanted] == [(2, "ann"), (7, "bob")]
    assert [(r.line, r.username) for r in refused] == [(4, "bad name"), (5, "ann"),
                                                       (6, ""), (8, "cat")]
    assert "already on line 2" in refused[1].detail
    assert extra


def test_the_limits_are_refused_whole():
    with pytest.raises(ValidationFailed):
        read_roster("a\n" * (roster.MAX_ROSTER_LINES + 1))
    with pytest.raises(ValidationFailed):
        read_roster("x" * (roster.MAX_ROSTER_BYTES + 1))


@pytest.fixture
def setup(app, instructor, student):
    with app.app_context():
        session = sessions.get_session()
        ines = accounts.Caller.of(accounts.user_named(session, "ines"))
        course = courses.create_course(session, ines, "Redes").id
        accounts.create_user(session, "old", Role.STUDENT)
        courses.enroll(session, ines, course, "sam", courses.CourseRole.STUDENT)
        yield session, ines, course


def test_an_import_creates_enrols_and_reports_every_line(setup):
    session, ines, course = setup
    report = roster.import_roster(session, ines, course,
                                  "new1,New One,n1@x\nold\nsam\nbad!\nnew2\n")
    outcomes = [(line.line, line.username, line.outcome) for line in report.lines]
    # An instructor is not told which accounts existed: new and old alike are enrolled.
    assert outcomes == [(1, "new1", LineOutcome.ENROLLED), (2, "old", LineOutcome.ENROLLED),
                        (3, "sam", LineOutcome.ALREADY), (4, "bad!", LineOutcome.SKIPPED),
                        (5, "new2", LineOutcome.ENROLLED)]
    assert report.extra_columns
    enrolled = {e.user.username: e.role for e in courses.course_enrollments(session, ines, course)}
    assert set(enrolled) == {"ines", "sam", "old", "new1", "new2"}
    assert accounts.user_named(session, "new1").role is Role.STUDENT
    again = roster.import_roster(session, ines, course, "new1\n")
    assert again.lines[0].outcome is LineOutcome.ALREADY


def test_an_admin_is_told_which_accounts_were_created(setup, admin):
    session, _ines, course = setup
    boss = accounts.Caller.of(accounts.user_named(session, "root"))
    report = roster.import_roster(session, boss, course, "new1\nold\n")
    assert [line.outcome for line in report.lines] == [LineOutcome.CREATED,
                                                       LineOutcome.ENROLLED]


def test_only_the_courses_instructors_import(setup):
    session, _ines, course = setup
    sam = accounts.Caller.of(accounts.user_named(session, "sam"))
    with pytest.raises(Forbidden):
        roster.import_roster(session, sam, course, "zed\n")
    other = accounts.create_user(session, "olga", Role.INSTRUCTOR)
    with pytest.raises(Forbidden):
        roster.import_roster(session, other, course, "zed\n")
    with pytest.raises(NotFound):  # nothing was created either
        accounts.user_named(session, "zed")
