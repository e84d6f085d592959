"""A student's way through the pages in Chromium: signing in by link, filling in the
graph, submitting (in place with JavaScript, by a plain form post without), the
statuses, messages and score, the history, the language switch; axe-core on every page.
"""

from __future__ import annotations

import pytest
from chromium_site import REPO, accessibility_violations

SUBMIT = "form[data-answers] button[type=submit]"


def answers(name: str, comma: bool) -> dict[str, str]:
    """Every blank of a bundled exercise (fixed inputs) answered right, to 3 decimals,
    written with a decimal comma or point."""
    from engine import draw_variant, load_exercise, solve

    exercise = load_exercise(REPO / "exercises" / f"{name}.yaml")
    solution = solve(draw_variant(exercise, None))

    def text(value: float) -> str:
        written = f"{value:.3f}".rstrip("0").rstrip(".")
        return written.replace(".", ",") if comma else written

    fields = {f"forward:{g.id}": text(solution.values[g.id]) for g in exercise.gates}
    fields.update({f"backward:{n}": text(solution.grads[n])
                   for n in [*exercise.inputs, *(g.id for g in exercise.gates)]})
    return fields


def sign_in(page, site, username: str, screenshot, *, javascript: bool = True) -> None:
    page.goto(site.link(username))
    screenshot(page, "sign-in-link")
    if javascript:  # axe-core runs in the page: not where scripts are off
        assert_accessible(page)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(site.url + "/")


def assert_accessible(page) -> None:
    assert accessibility_violations(page) == []


def fill(page, fields: dict[str, str]) -> None:
    for key, value in fields.items():
        page.locator(f'[data-blank="{key}"]').fill(value)


def status(page, key: str) -> str | None:
    return page.locator(f'[data-blank="{key}"]').get_attribute("data-status")


def test_a_student_signs_in_and_fills_the_sigmoid_neuron_right(new_page, site, username,
                                                               screenshot):
    page = new_page()
    sign_in(page, site, username, screenshot)
    screenshot(page, "home")
    assert_accessible(page)
    page.get_by_role("link", name="Sigmoid neuron, gate by gate").click()
    page.wait_for_url("**/exercises/sigmoid-neuron")
    assert page.locator("[data-blank]").count() == 19
    screenshot(page, "empty")
    assert_accessible(page)
    fill(page, answers("sigmoid-neuron", comma=False))
    page.locator(SUBMIT).click()
    page.locator("[data-score]:not([data-score=''])").wait_for()
    assert page.locator("[data-score]").get_attribute("data-score") == "1.0"
    statuses = {page.locator("[data-blank]").nth(k).get_attribute("data-status")
                for k in range(19)}
    assert statuses == {"correct"}
    assert page.locator("[data-summary]").inner_text() == "Every blank is right."
    screenshot(page, "all-correct")
    assert_accessible(page)


@pytest.mark.parametrize(("locale", "texts"), [
    ("en-US", {"status": "incorrect", "start": "Start fixing here:", "score": "Score:",
               "message": "x feeds 3 branches (a, b, c)"}),
    ("pt-BR", {"status": "incorreto", "start": "Comece a corrigir aqui:", "score": "Nota:",
               "message": "somar todos os fluxos antes de aplicar a regra da cadeia"}),
])
def test_a_branch_mistake_is_found_in_place(new_page, site, username, screenshot, locale,
                                            texts):
    page = new_page(locale=locale)
    sign_in(page, site, username, screenshot)
    page.goto(site.url + "/exercises/branching")
    comma = locale == "pt-BR"
    fields = answers("branching", comma)
    fields["backward:x"] = "-2"  # only the branch through a: df/da · y
    fill(page, fields)
    page.evaluate("window.stillThisPage = true")
    page.locator(SUBMIT).click()
    page.locator('[data-blank="backward:x"][data-status]').wait_for()
    assert page.evaluate("window.stillThisPage") is True  # no reload
    assert page.url == site.url + "/exercises/branching/attempts/1"
    assert status(page, "backward:x") == "incorrect"
    assert {status(page, key) for key in fields if key != "backward:x"} == {"correct"}
    assert page.evaluate("document.activeElement.dataset.blank") == "backward:x"
    bubble = page.locator(".blank.first-error .bubble")
    assert bubble.is_visible()
    assert texts["status"] in bubble.inner_text() and texts["message"] in bubble.inner_text()
    score = float(page.locator("[data-score]").get_attribute("data-score"))
    assert score == pytest.approx(11 / 12)
    result = page.locator("#result").inner_text()
    assert texts["start"] in result and texts["score"] in result and "92" in result
    screenshot(page, "branch-mistake")
    assert_accessible(page)
    fill(page, {"backward:x": "-7"})
    page.locator(SUBMIT).click()
    page.locator("[data-score='1.0']").wait_for()
    assert status(page, "backward:x") == "correct"
    assert page.locator("[data-history] li").count() == 2
    screenshot(page, "fixed")


def test_without_javascript_the_form_posts_and_redirects(new_page, site, username,
                                                         screenshot):
    page = new_page(java_script_enabled=False, locale="pt-BR")
    sign_in(page, site, username, screenshot, javascript=False)
    page.goto(site.url + "/exercises/branching")
    fields = answers("branching", comma=True)
    fields["backward:x"] = "-2"
    fill(page, fields)
    page.locator(SUBMIT).click()
    page.wait_for_url("**/exercises/branching/attempts/1#first-error")
    assert status(page, "backward:x") == "incorrect"
    assert status(page, "backward:y") == "correct"
    assert float(page.locator("[data-score]").get_attribute("data-score")) == pytest.approx(
        11 / 12)
    assert "Comece a corrigir aqui:" in page.locator("#result").inner_text()
    screenshot(page, "after-post")
    fill(page, {"forward:a": "seis"})
    page.locator(SUBMIT).click()
    assert status(page, "forward:a") == "invalid"
    assert "nenhuma tentativa foi usada" in page.locator("[data-notice]").inner_text()
    screenshot(page, "not-a-number")


def test_a_refused_submit_is_not_shown_as_an_attempt(new_page, site, username, screenshot):
    page = new_page(locale="pt-BR")
    sign_in(page, site, username, screenshot)
    page.goto(site.url + "/exercises/branching")
    fields = answers("branching", comma=True)
    fill(page, {**fields, "backward:x": "-2"})
    page.locator(SUBMIT).click()
    page.locator("[data-history] li").first.wait_for()
    assert page.locator("#result-heading").inner_text() == "Tentativa 1"
    fill(page, {"backward:x": "-7", "forward:a": "abc"})
    page.locator(SUBMIT).click()
    page.locator("[data-notice]").wait_for()
    # The result speaks of this submit, which was not graded: no score, no attempt used,
    # the box to fix first; attempt 1 stays in the history, as it was graded.
    assert page.locator("#result-heading").inner_text() == "Não enviado"
    assert page.locator("[data-score]").is_hidden()
    assert "nenhuma tentativa foi usada" in page.locator("[data-notice]").inner_text()
    assert status(page, "forward:a") == "invalid"
    assert page.evaluate("document.activeElement.dataset.blank") == "forward:a"
    assert page.locator("[data-history] li").count() == 1
    screenshot(page, "refused")
    assert_accessible(page)


def visible_bubbles(page) -> list[str]:
    return page.evaluate("""[...document.querySelectorAll('.bubble')]
        .filter(b => getComputedStyle(b).display !== 'none')
        .map(b => b.closest('.blank').querySelector('input').dataset.blank)""")


def test_the_drawing_fits_a_1280_pixel_window_and_nothing_is_cut(new_page, site, username,
                                                                 screenshot):
    # A 1280-pixel window less a classic scrollbar.
    page = new_page(viewport={"width": 1265, "height": 900})
    sign_in(page, site, username, screenshot)
    page.goto(site.url + "/exercises/sigmoid-neuron")
    fields = answers("sigmoid-neuron", comma=False)
    fill(page, {**fields, "backward:w0": "0.2", "backward:f": "2"})
    page.locator(SUBMIT).click()
    page.locator("[data-score]:not([data-score=''])").wait_for()
    frame = page.locator(".graph-scroll")
    sizes = frame.evaluate("f => [f.scrollWidth, f.clientWidth]")
    assert sizes[0] <= sizes[1]  # no sideways scroll
    outside = page.evaluate("""(() => {
        const frame = document.querySelector('.graph-scroll').getBoundingClientRect();
        return [...document.querySelectorAll('.badge, .blank input')].filter(e => {
            const r = e.getBoundingClientRect();
            return r.width && (r.left < frame.left || r.right > frame.right ||
                               r.top < frame.top || r.bottom > frame.bottom);
        }).length; })()""")
    assert outside == 0
    # Every gate's symbol is drawn inside its shape.
    overflowing = page.evaluate("""[...document.querySelectorAll('g.gate')].filter(g => {
        const shape = g.querySelector('rect').getBBox(), text = g.querySelector('text').getBBox();
        return text.width > shape.width - 4; }).map(g => g.dataset.node)""")
    assert overflowing == []
    # Only the box with the focus shows its message; the output's opens inwards, uncut.
    assert visible_bubbles(page) == ["backward:f"]  # the first error has the focus
    page.locator('[data-blank="forward:p0"]').focus()
    assert visible_bubbles(page) == ["forward:p0"]
    page.locator('[data-blank="backward:w0"]').focus()
    assert visible_bubbles(page) == ["backward:w0"]
    page.locator('[data-blank="backward:f"]').focus()
    bubble = page.locator('.blank:has([data-blank="backward:f"]) .bubble').bounding_box()
    box = frame.bounding_box()
    assert bubble["x"] >= box["x"] and bubble["x"] + bubble["width"] <= box["x"] + box["width"]
    screenshot(page, "fits")
    assert_accessible(page)


@pytest.mark.parametrize("name", ["rule-inv", "rule-exp", "branching"])
def test_no_message_is_cut_by_the_frame_of_a_short_graph(new_page, site, username,
                                                         screenshot, name):
    page = new_page(viewport={"width": 1265, "height": 900}, locale="pt-BR")
    sign_in(page, site, username, screenshot)
    page.goto(f"{site.url}/exercises/{name}")
    fill(page, {key: "1" for key in answers(name, comma=True)})  # wrong nearly everywhere
    page.locator(SUBMIT).click()
    page.locator("[data-score]:not([data-score=''])").wait_for()
    frame = page.locator(".graph-scroll")
    for box in page.locator("[data-blank]").all():
        box.focus()
        bubble = page.locator(".blank:focus-within .bubble")
        if not bubble.count() or not bubble.is_visible():
            continue
        inside = page.evaluate("""(() => {
            const f = document.querySelector('.graph-scroll').getBoundingClientRect();
            const b = document.querySelector('.blank:focus-within .bubble')
                .getBoundingClientRect();
            return b.left >= f.left && b.right <= f.right && b.bottom <= f.bottom; })()""")
        assert inside, box.get_attribute("data-blank")
        sizes = frame.evaluate(
            "f => [f.scrollWidth, f.clientWidth, f.scrollHeight, f.clientHeight]")
        assert sizes[0] <= sizes[1] and sizes[2] <= sizes[3], box.get_attribute("data-blank")
    screenshot(page, "last-message")


def test_the_language_switch_changes_every_text(new_page, site, username, screenshot):
    page = new_page(locale="en-US")
    sign_in(page, site, username, screenshot)
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(site.url + "/exercises/sigmoid-neuron")
    page.get_by_role("button", name="Português (Brasil)").click()
    page.wait_for_url("**/exercises/sigmoid-neuron")
    assert page.locator("html").get_attribute("lang") == "pt-BR"
    assert page.get_by_role("button", name="Enviar").is_visible()
    assert page.get_by_label("valor de p0").count() == 1
    screenshot(page, "portuguese")
    assert_accessible(page)
    page.get_by_role("button", name="English").click()
    page.wait_for_url("**/exercises/sigmoid-neuron")
    assert page.get_by_label("value of p0").count() == 1


def test_the_history_draws_each_attempt(new_page, site, username, screenshot):
    page = new_page()
    sign_in(page, site, username, screenshot)
    page.goto(site.url + "/exercises/branching")
    fields = answers("branching", comma=False)
    fill(page, {**fields, "backward:x": "-2"})
    page.locator(SUBMIT).click()
    page.locator("[data-history] li").first.wait_for()
    fill(page, {"backward:x": "-7"})
    page.locator(SUBMIT).click()
    page.locator("[data-history] li:nth-child(2)").wait_for()
    page.goto(site.url + "/exercises/branching")
    page.get_by_role("link", name="Attempt 1").click()
    page.wait_for_url("**/exercises/branching/attempts/1")
    assert status(page, "backward:x") == "incorrect"
    assert page.locator('[data-blank="backward:x"]').input_value() == "-2"
    assert page.locator('[data-blank="backward:x"]').get_attribute("readonly") is not None
    assert page.locator(SUBMIT).count() == 0
    screenshot(page, "attempt-1")
    assert_accessible(page)


def test_the_pages_reflow_at_200_percent_zoom(new_page, site, username, screenshot):
    # A 1280-pixel window at 200 % zoom lays out like a 640-pixel one at 2x.
    page = new_page(viewport={"width": 640, "height": 400}, device_scale_factor=2)
    sign_in(page, site, username, screenshot)
    page.goto(site.url + "/exercises/sigmoid-neuron")
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]  # only the graph scrolls sideways, in its own box
    box = page.locator('[data-blank="forward:p0"]')
    box.focus()
    assert box.is_visible()
    screenshot(page, "zoomed")
    assert_accessible(page)


def test_the_signed_out_home_page(new_page, site, screenshot):
    page = new_page(locale="pt-BR")
    page.goto(site.url + "/")
    assert "Peça ao seu professor um link de acesso" in page.locator("main").inner_text()
    screenshot(page, "signed-out")
    assert_accessible(page)
    page.goto(site.url + "/sign-in/" + "x" * 43)
    screenshot(page, "invalid-link")
    assert_accessible(page)
