"""Browser tests: the pages in Debian's Chromium, driven by Playwright, against the app
served for real on a free loopback port (werkzeug, in a thread) with a migrated SQLite
database of its own.

They need the `browser` extra (`pip install -e '.[browser]'`: Playwright and
axe-playwright-python, which ships axe-core) and Chromium at /usr/bin/chromium (or
where GRADER_CHROMIUM says); Playwright's own browser download is never used. Without
them every test module here is skipped whole, before it is imported, with one line
naming what to install.

Each test saves full-page screenshots in tests/browser/screenshots/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest
from chromium_site import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MISSING,
    REPO,
    SECRET_KEY,
    Screenshots,
    Site,
    free_port,
)


class UnavailableModule(pytest.Module):
    """A test module of this folder when the browser tests cannot run: skipped whole,
    with the reason, before it is imported."""

    def collect(self) -> list[Any]:
        pytest.skip(MISSING or "")


def pytest_pycollect_makemodule(module_path: Any, parent: Any) -> Any:
    if MISSING is not None:
        return UnavailableModule.from_parent(parent, path=module_path)
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def site(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from werkzeug.serving import make_server

    from grader import db, sessions
    from grader.app import create_app
    from grader.services import exercises

    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'grader.sqlite3'}"
    db.upgrade(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app({"testing": True, "database_url": url, "secret_key": SECRET_KEY,
                      "base_url": base})
    with app.app_context():
        exercises.load_exercise_folder(sessions.get_session(), REPO / "exercises", None)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(base, app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        sessions.dispose(app)


_usernames = count(1)


@pytest.fixture
def username(site: Site) -> str:
    """A new student of its own for each test."""
    name = f"student{next(_usernames)}"
    site.add_user(name)
    return name


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(request.node.name)


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Any]:
    """`new_page(locale="pt-BR", java_script_enabled=True, ...)`: a page in a fresh
    context (its own cookies), closed after the test."""
    contexts = []

    def make(**options: Any) -> Any:
        context = chromium.new_context(**{"viewport": {"width": 1280, "height": 800},
                                          **options})
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
