"""The class analytics of an assignment: each blank's shares and top mistakes,
counted from each student's latest attempt."""

from __future__ import annotations

import pytest

from engine import load_exercise
from grader import sessions
from grader.models import Role
from grader.services import accounts, analytics
from grader.services.analytics import BlankKey, blanks_of, tally
from grader.services.errors import Forbidden

X = BlankKey("backward", "x")
A = BlankKey("forward", "a")


def result(**statuses: str | tuple[str, str]) -> dict:
    """A stored result with a blank per keyword: a=status or x=(status, mistake)."""
    blanks = []
    for name, found in statuses.items():
        kind, node = ("forward", "a") if name == "a" else ("backward", "x")
        status, mistake = found if isinstance(found, tuple) else (found, None)
        blanks.append({"kind": kind, "node": node, "status": status, "mistake": mistake})
    return {"score": 0.5, "blanks": blanks}


def test_each_result_counts_once_per_blank():
    found = tally([A, X], [
        result(a="correct", x="correct"),
        result(a="correct", x=("incorrect", "branch-not-summed")),
        result(a="incorrect", x="consistent"),
        result(a="correct", x=("incorrect", "branch-not-summed")),
        result(a="correct", x=("incorrect", "no-upstream")),
    ])
    a, x = found
    assert a.total == x.total == 5
    assert a.share("correct") == pytest.approx(0.8) and a.share("incorrect") == pytest.approx(0.2)
    assert x.share("correct") == pytest.approx(0.2)
    assert x.share("consistent") == pytest.approx(0.2)
    assert x.share("incorrect") == pytest.approx(0.6)
    assert x.top_mistakes() == [("branch-not-summed", 2), ("no-upstream", 1)]
    assert a.top_mistakes() == []  # a wrong blank without a diagnosis has no code


def test_a_blank_a_result_leaves_out_or_holds_no_number_counts_as_missing():
    a, x = tally([A, X], [result(a="correct"), result(a="invalid", x="missing")])
    assert x.counts["missing"] == 2 and a.counts["missing"] == 1 and a.counts["correct"] == 1


def test_no_results_give_zero_shares_not_an_error():
    [a] = tally([A], [])
    assert a.total == 0 and a.share("correct") == 0.0


def test_the_blanks_of_an_exercise_follow_working_order(bundled):
    exercise = load_exercise(bundled("branching"))
    keys = blanks_of(exercise)
    assert keys[0] == BlankKey("forward", "a")
    assert keys[5] == BlankKey("backward", "f")  # the backward pass starts at the output
    assert keys[-1] == BlankKey("backward", "x")


def test_the_latest_attempt_of_each_student_counts(app, instructor, users, load_bundled,
                                                   right_answers):
    load_bundled("branching")
    course = instructor.post("/api/v1/courses", json={"title": "Redes"}).json["id"]
    class_ = {name: users.add(name) for name in ("ann", "bob", "cat", "dan")}
    for name in class_:
        instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": name})
    assignment = instructor.post(f"/api/v1/courses/{course}/assignments",
                                 json={"exercise": "branching"}).json["id"]
    right = right_answers(class_["ann"].get(f"/api/v1/assignments/{assignment}").json)
    wrong_x = {**right, "backward": {**right["backward"], "x": right["backward"]["a"] * -2}}
    url = f"/api/v1/assignments/{assignment}/attempts"
    assert class_["ann"].post(url, json=right).status_code == 201
    assert class_["bob"].post(url, json=wrong_x).status_code == 201
    assert class_["cat"].post(url, json=wrong_x).status_code == 201
    assert class_["cat"].post(url, json=right).status_code == 201  # the latest counts
    with app.app_context():
        session = sessions.get_session()
        ines = accounts.Caller.of(accounts.user_named(session, "ines"))
        found = analytics.assignment_analytics(session, ines, assignment)
        assert (found.students, found.counted, found.not_attempted) == (4, 3, 1)
        x = next(t for t in found.blanks if t.blank == X)
        assert x.counts["correct"] == 2 and x.counts["incorrect"] == 1
        assert x.share("correct") == pytest.approx(2 / 3)
        assert len(x.top_mistakes()) == 1
        sam = accounts.create_user(session, "sam", Role.STUDENT)
        with pytest.raises(Forbidden):
            analytics.assignment_analytics(session, sam, assignment)
