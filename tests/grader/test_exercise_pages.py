"""The exercise and assignment pages through Flask's test client: the boxes and their
testing contract (data-blank, data-status, data-score), labels and order, submitting by
form and in place, numbers as each language writes them, refusals that use no attempt,
the history, and what an assignment's feedback policy shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from page_client import Browser, Elements

from grader.web.numbers import read_typed, submission_from_form


def boxes(html: str) -> list[dict[str, str]]:
    return [a for a in Elements(html).all("input") if "data-blank" in a]


def statuses(html: str) -> dict[str, str | None]:
    return {a["data-blank"]: a.get("data-status") for a in boxes(html)}


def score(html: str) -> str:
    [element] = [a for t, a in Elements(html).found if "data-score" in a]
    return element["data-score"]


def typed(answers: dict, comma: bool = False) -> dict[str, str]:
    """The form fields of a submission, numbers written with a point or a comma."""
    def text(value: float) -> str:
        written = repr(float(value))
        return written.replace(".", ",") if comma else written

    fields = {f"{kind}:{node}": text(v) for kind in ("forward", "backward")
              for node, v in answers.get(kind, {}).items()}
    for gate, by_input in answers.get("local", {}).items():
        fields.update({f"local:{gate}:{name}": text(v) for name, v in by_input.items()})
    return fields


@pytest.fixture
def branching(load_bundled, student, right_answers):
    """The branching exercise, and its right answers but for df/dx, which sums only
    the branch through a (df/da · y = -2 instead of -7)."""
    load_bundled("branching")
    answers = right_answers(student.get("/api/v1/exercises/branching").json)
    answers["backward"]["x"] = answers["backward"]["a"] * -2.0
    return answers


def test_the_page_has_a_labelled_box_for_every_blank_in_working_order(student_browser,
                                                                       load_bundled):
    load_bundled("sigmoid-neuron")
    page = student_browser.get("/exercises/sigmoid-neuron")
    assert page.status_code == 200
    keys = [b["data-blank"] for b in boxes(page.text)]
    gates = ["p0", "p1", "s", "n", "e", "d", "f"]
    assert keys[:7] == [f"forward:{g}" for g in gates]
    assert keys[7] == "backward:f"  # the backward pass starts at the output
    assert sorted(keys[7:]) == sorted(f"backward:{n}" for n in
                                      [*gates, "w0", "x0", "w1", "x1", "w2"])
    labels = {a["for"] for a in Elements(page.text).all("label") if "for" in a}
    assert all(b["id"] in labels and b["name"] == b["data-blank"] for b in boxes(page.text))
    assert ">value of p0</label>" in page.text and ">df/dx0</label>" in page.text
    assert all("data-status" not in b for b in boxes(page.text))
    assert Elements(page.text).all("button", type="submit", **{"class": "primary"})


def test_local_blanks_come_last_and_speak_portuguese(student_browser, load_bundled):
    load_bundled("sigmoid-neuron-random")
    page = student_browser.get("/exercises/sigmoid-neuron-random",
                               headers={"Accept-Language": "pt-BR"})
    keys = [b["data-blank"] for b in boxes(page.text)]
    assert keys[-1].startswith("local:") and keys.index("local:p0:w0") > keys.index("backward:w0")
    assert ">valor de p0</label>" in page.text and ">derivada local ∂p0/∂x0</label>" in page.text
    assert "Novos números" in page.text  # its numbers are drawn per student
    assert "derivada local" in page.text.split('class="instructions"')[1].split("</p>")[0]


def test_a_branch_mistake_is_marked_with_its_message_and_score(student_browser, branching):
    page = student_browser.get("/exercises/branching")
    assert "local gradient" not in page.text  # no boxes for them here
    response = student_browser.post("/exercises/branching",
                                    {**student_browser.form(), **typed(branching)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/exercises/branching/attempts/1#first-error"
    result = student_browser.get("/exercises/branching/attempts/1")
    found = statuses(result.text)
    assert found.pop("backward:x") == "incorrect"
    assert set(found.values()) == {"correct"}
    assert "x feeds 3 branches (a, b, c)" in result.text
    assert float(score(result.text)) == pytest.approx(11 / 12)
    assert 'id="first-error"' in result.text and "1 attempt used" in result.text
    [wrong] = [b for b in boxes(result.text) if b["data-blank"] == "backward:x"]
    assert wrong["aria-invalid"] == "true" and page.status_code == 200


def test_numbers_are_read_as_portuguese_writes_them(student_browser, branching):
    student_browser.get("/exercises/branching", headers={"Accept-Language": "pt-BR"})
    fields = typed(branching, comma=True)
    fields["backward:x"] = "\u22122"  # a true minus sign
    student_browser.post("/exercises/branching", {**student_browser.form(), **fields})
    result = student_browser.get("/exercises/branching/attempts/1",
                                 headers={"Accept-Language": "pt-BR"})
    assert statuses(result.text)["backward:y"] == "correct"
    assert statuses(result.text)["backward:x"] == "incorrect"
    assert 'value="-2"' in result.text  # shown back as typed, in Portuguese
    assert "Comece a corrigir aqui:" in result.text and "Nota:" in result.text


@pytest.mark.parametrize(("text", "read"), [
    ("0,39", 0.39), ("0.39", 0.39), ("-1,5", -1.5), ("\u22120,2", -0.2), (" 2 ", 2.0),
    ("1e-3", 0.001), (",5", 0.5), ("3.", 3.0), ("", None), ("  ", None),
    ("abc", "abc"), ("1,234.5", "1,234.5"), ("0,3,9", "0,3,9"), ("nan", "nan"),
])
def test_typed_numbers(text, read):
    assert read_typed(text) == read


def test_a_form_becomes_the_apis_submission():
    form = {"forward:p0": "-2", "backward:x0": "0,39", "local:p0:x0": "2", "backward:w0": "",
            "csrf_token": "t", "forward:zz": "1"}
    keys = ["forward:p0", "backward:x0", "backward:w0", "local:p0:x0"]
    assert submission_from_form(form, keys) == {
        "forward": {"p0": -2.0}, "backward": {"x0": 0.39}, "local": {"p0": {"x0": 2.0}}}


def test_text_that_is_not_a_number_is_refused_without_using_an_attempt(student_browser,
                                                                       branching, student):
    student_browser.get("/exercises/branching")
    fields = {**student_browser.form(), **typed(branching), "forward:a": "seis"}
    refused = student_browser.post("/exercises/branching", fields)
    assert refused.status_code == 422
    assert statuses(refused.text)["forward:a"] == "invalid"
    assert 'value="seis"' in refused.text and "no attempt was used" in refused.text
    assert '<h2 id="result-heading">Not submitted</h2>' in refused.text
    assert student.get("/api/v1/exercises/branching/attempts").json == []
    empty = {k: v for k, v in student_browser.form().items() if ":" not in k}
    refused = student_browser.post("/exercises/branching", empty)
    assert refused.status_code == 422 and "Every box is empty" in refused.text
    assert student.get("/api/v1/exercises/branching/attempts").json == []


def test_a_submit_without_the_token_is_refused(student_browser, branching, student):
    student_browser.get("/exercises/branching")
    fields = {**student_browser.form(), **typed(branching)}
    del fields["csrf_token"]
    response = student_browser.client.post("/exercises/branching", data=fields)
    assert response.status_code == 403
    assert student.get("/api/v1/exercises/branching/attempts").json == []


def test_the_script_submits_in_place_with_the_token_in_a_header(student_browser, branching):
    student_browser.get("/exercises/branching")
    fields = {**student_browser.form(), **typed(branching)}
    token = fields.pop("csrf_token")
    response = student_browser.client.post(
        "/exercises/branching", data=fields,
        headers={"Accept": "application/json", "X-CSRF-Token": token})
    assert response.status_code == 200
    data = response.json
    assert data["attempt"] == 1 and data["editable"] is True
    assert data["score"] == pytest.approx(11 / 12)
    assert data["attempt_url"] == "/exercises/branching/attempts/1"
    blank = next(b for b in data["blanks"] if b["blank"] == "backward:x")
    assert blank["status"] == "incorrect" and blank["first_error"] and blank["icon"]
    assert "feeds 3 branches" in blank["message"]
    refused = student_browser.client.post(
        "/exercises/branching",  # the next submit carries the key the answer gave
        data={**fields, "forward:a": "x", "attempt_key": data["attempt_key"]},
        headers={"Accept": "application/json", "X-CSRF-Token": token})
    assert refused.status_code == 422 and refused.json["attempt"] is None
    # The result speaks of this refused submit, not of attempt 1, which stays listed.
    assert refused.json["result_heading"] == "Not submitted"
    assert refused.json["score"] is None
    assert [h["number"] for h in refused.json["history"]] == [1]


def test_a_form_sent_twice_makes_one_attempt(student_browser, branching, student):
    student_browser.get("/exercises/branching")
    fields = {**student_browser.form(), **typed(branching)}
    first = student_browser.post("/exercises/branching", fields)
    second = student_browser.post("/exercises/branching", fields)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(student.get("/api/v1/exercises/branching/attempts").json) == 1
    changed = student_browser.post("/exercises/branching", {**fields, "forward:a": "1"})
    assert changed.status_code == 409 and "already submitted" in changed.text


def test_the_history_opens_each_attempt_on_the_graph(student_browser, branching):
    student_browser.get("/exercises/branching")
    student_browser.post("/exercises/branching",
                         {**student_browser.form(), **typed(branching)})
    student_browser.get("/exercises/branching/attempts/1")
    fixed = dict(branching, backward={**branching["backward"], "x": -7.0})
    student_browser.post("/exercises/branching", {**student_browser.form(), **typed(fixed)})
    latest = student_browser.get("/exercises/branching")
    assert set(statuses(latest.text).values()) == {"correct"}
    assert "Every blank is right." in latest.text and score(latest.text) == "1.0"
    first = student_browser.get("/exercises/branching/attempts/1")
    assert statuses(first.text)["backward:x"] == "incorrect"
    assert all("readonly" in b for b in boxes(first.text))  # an earlier attempt
    assert 'href="/exercises/branching/attempts/1" aria-current="page"' in first.text
    assert 'href="/exercises/branching/attempts/2"' in first.text
    assert student_browser.get("/exercises/branching/attempts/3").status_code == 404


def test_new_numbers_replace_the_variant_and_stale_forms_are_refused(student_browser,
                                                                    load_bundled):
    load_bundled("sigmoid-neuron-random")
    student_browser.get("/exercises/sigmoid-neuron-random")
    stale = student_browser.form()
    assert stale["variant"] == "1"
    assert student_browser.post("/exercises/sigmoid-neuron-random/variants").status_code == 303
    page = student_browser.get("/exercises/sigmoid-neuron-random")
    assert student_browser.form()["variant"] == "2"
    refused = student_browser.post("/exercises/sigmoid-neuron-random",
                                   {**stale, "forward:p0": "1"})
    assert refused.status_code == 409 and "New numbers were drawn" in refused.text
    assert page.status_code == 200


def test_texts_from_the_exercise_are_escaped(student_browser, instructor, bundled):
    text = bundled("branching").replace("id: branching", "id: tricky").replace(
        "title: Gradients at a branch are summed", 'title: "A <script>alert(1)</script>"')
    assert instructor.put_yaml("tricky", text).status_code == 201
    page = student_browser.get("/exercises/tricky")
    assert "<script>alert" not in page.text
    assert "A &lt;script&gt;alert(1)&lt;/script&gt;" in page.text


# ---------------------------------------------------------------- assignments


@pytest.fixture
def assign(instructor, load_bundled):
    load_bundled("branching")
    course = instructor.post("/api/v1/courses", json={"title": "Redes"}).json["id"]
    instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": "sam"})

    def make(**settings) -> int:
        response = instructor.post(f"/api/v1/courses/{course}/assignments",
                                   json={"exercise": "branching", **settings})
        assert response.status_code == 201, response.json
        return response.json["id"]

    return make


def submit_assignment(browser: Browser, assignment: int, answers: dict):
    browser.get(f"/assignments/{assignment}")
    return browser.post(f"/assignments/{assignment}", {**browser.form(), **typed(answers)})


def test_an_assignment_counts_its_attempts(student_browser, assign, branching):
    assignment = assign(max_attempts=2)
    page = student_browser.get(f"/assignments/{assignment}")
    assert page.status_code == 200 and "0 attempts used · 2 left" in page.text
    response = submit_assignment(student_browser, assignment, branching)
    assert response.headers["Location"] == f"/assignments/{assignment}/attempts/1#first-error"
    result = student_browser.get(f"/assignments/{assignment}/attempts/1")
    assert statuses(result.text)["backward:x"] == "incorrect"
    assert "1 attempt used · 1 left" in result.text
    submit_assignment(student_browser, assignment, branching)
    done = student_browser.get(f"/assignments/{assignment}")
    assert "Every attempt at this assignment has been used." in done.text
    assert not Elements(done.text).all("button", type="submit", **{"class": "primary"})
    fields = {**student_browser.form(), **typed(branching), "attempt_key": "another"}
    refused = student_browser.post(f"/assignments/{assignment}", fields)
    assert refused.status_code == 409 and "all 2 attempts have been used" in refused.text


def test_with_new_numbers_each_attempt_the_result_leads_to_the_next(student_browser,
                                                                     assign, branching):
    assignment = assign(max_attempts=3, new_variant_each_attempt=True)
    response = submit_assignment(student_browser, assignment, branching)
    result = student_browser.get(response.headers["Location"].split("#")[0])
    assert "Your next attempt has new numbers." in result.text
    assert f'<a href="/assignments/{assignment}">Try again with new numbers</a>' in result.text
    assert "An earlier attempt" not in result.text
    assert student_browser.get(f"/assignments/{assignment}").text.count('data-blank=') > 0


def test_a_closed_assignment_says_when_in_a_local_time_element(student_browser, assign,
                                                                branching):
    past = datetime.now(UTC) - timedelta(days=1)
    assignment = assign(opens_at=(past - timedelta(days=1)).isoformat(),
                        due_at=past.isoformat())
    page = student_browser.get(f"/assignments/{assignment}",
                               headers={"Accept-Language": "pt-BR"})
    notice = page.text[page.text.index("data-notice"):]
    notice = notice[:notice.index("</p>")]
    assert f'<time datetime="{past.astimezone(UTC).isoformat()}" data-local>' in notice
    assert "UTC</time>" in notice and "O prazo desta atividade terminou em" in notice
    upcoming = assign(opens_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    refused = student_browser.get(f"/assignments/{upcoming}",
                                  headers={"Accept-Language": "pt-BR"})
    assert refused.status_code == 403
    assert "Esta atividade não está aberta" in refused.text
    assert "+00:00" not in refused.text and " UTC" in refused.text  # a time people read


def test_location_feedback_marks_the_boxes_but_says_not_why(student_browser, assign,
                                                            branching):
    assignment = assign(feedback="location")
    submit_assignment(student_browser, assignment, branching)
    result = student_browser.get(f"/assignments/{assignment}/attempts/1")
    assert statuses(result.text)["backward:x"] == "incorrect"
    assert "feeds 3 branches" not in result.text
    assert "shows which blanks are wrong, but not why" in result.text
    assert float(score(result.text)) == pytest.approx(11 / 12)


def test_score_feedback_shows_the_score_alone(student_browser, assign, branching):
    assignment = assign(feedback="score")
    submit_assignment(student_browser, assignment, branching)
    result = student_browser.get(f"/assignments/{assignment}/attempts/1")
    assert set(statuses(result.text).values()) == {None}
    assert "feeds 3 branches" not in result.text and 'id="first-error"' not in result.text
    assert float(score(result.text)) == pytest.approx(11 / 12)


def test_a_closed_assignment_is_read_only(student_browser, assign, branching):
    past = datetime.now(UTC) - timedelta(days=1)
    assignment = assign(opens_at=(past - timedelta(days=1)).isoformat(),
                        due_at=past.isoformat())
    page = student_browser.get(f"/assignments/{assignment}")
    assert "it takes no more attempts" in page.text
    assert all("readonly" in b for b in boxes(page.text))
    upcoming = assign(opens_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert student_browser.get(f"/assignments/{upcoming}").status_code == 403


def test_only_enrolled_users_see_an_assignment(app, assign, users):
    assignment = assign()
    users.add("eve")
    outsider = Browser(app)
    outsider.sign_in("eve")
    page = outsider.get(f"/assignments/{assignment}")
    assert page.status_code == 403 and "not enrolled" in page.text


@pytest.mark.parametrize(("text", "html"), [
    ("the *other* input", "<p>the <em>other</em> input</p>"),
    ("**add** and *max*", "<p><strong>add</strong> and <em>max</em></p>"),
    ("a * b and 2*x*y stay", "<p>a * b and 2*x*y stay</p>"),
    ("one\n\ntwo <b>", "<p>one</p><p>two &lt;b&gt;</p>"),
])
def test_a_description_is_the_markdown_authors_write(text, html):
    from grader.web.formats import description_html

    assert str(description_html(text)) == html


def test_the_worked_solution_is_a_page_once_the_assignment_shows_it(student_browser, assign,
                                                                     branching):
    past = datetime.now(UTC) - timedelta(hours=1)
    window = {"opens_at": (past - timedelta(days=1)).isoformat(), "due_at": past.isoformat()}
    shown = assign(solution_after_due=True, **window)
    page = student_browser.get(f"/assignments/{shown}", headers={"Accept-Language": "pt-BR"})
    assert f'href="/assignments/{shown}/solution"' in page.text
    solution = student_browser.get(f"/assignments/{shown}/solution",
                                   headers={"Accept-Language": "pt-BR"})
    assert solution.status_code == 200
    assert "<h1>Solução: Gradientes nas ramificações se somam</h1>" in solution.text
    assert "Passo a passo" in solution.text and "<svg" in solution.text
    hidden = assign(**window)
    page = student_browser.get(f"/assignments/{hidden}")
    assert "/solution" not in page.text
    refused = student_browser.get(f"/assignments/{hidden}/solution")
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    assert "does not show its solution" in refused.text
