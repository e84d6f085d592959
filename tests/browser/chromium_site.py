"""What the browser tests share: whether they can run, the site they drive, screenshots
and axe-core's verdict on a page."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = os.environ.get("GRADER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECRET_KEY = "browser-tests-" + "k" * 40


def missing_requirement() -> str | None:
    """What is missing to run the browser tests, in one sentence, or None."""
    missing = []
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)) and not shutil.which(
            CHROMIUM):
        missing.append(f"Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set "
                       "GRADER_CHROMIUM)")
    for module, package in (("playwright", "playwright"),
                            ("axe_playwright_python", "axe-playwright-python")):
        if importlib.util.find_spec(module) is None:
            missing.append(f"{package} (pip install -e '.[browser]')")
    if not missing:
        return None
    return "browser tests need " + " and ".join(missing)


# conftest.py skips the whole folder with this reason: one line, not one per test.
MISSING = missing_requirement()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Site:
    """The app served on a loopback port, and a way to reach its database."""

    url: str
    app: Any

    def add_user(self, username: str, role: str = "student") -> None:
        from grader import sessions
        from grader.models import Role
        from grader.services import accounts

        with self.app.app_context():
            accounts.create_user(sessions.get_session(), username, Role(role))

    def link(self, username: str) -> str:
        from grader import sessions
        from grader.services import sign_in

        with self.app.app_context():
            return sign_in.create_link(sessions.get_session(), username, 72).url(self.url)

    def token(self, username: str) -> str:
        from grader import sessions
        from grader.services import accounts

        with self.app.app_context():
            return accounts.create_token(sessions.get_session(), username)


class Screenshots:
    """Full-page screenshots of one test, numbered in the order taken."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name).strip("-")
        self.taken = 0
        SCREENSHOTS.mkdir(exist_ok=True)

    def __call__(self, page: Any, what: str) -> Path:
        self.taken += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.taken:02d}-{what}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def accessibility_violations(page: Any) -> list[str]:
    """axe-core's violations on the page, one line each (empty: none)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} elements: "
            f"{', '.join(str(n['target']) for n in v['nodes'][:3])})"
            for v in results.response["violations"]]
