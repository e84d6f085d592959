"""A Flask test client used as a person's browser, and the elements of a page."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from flask import Flask

from grader import sessions
from grader.services import sign_in


class Elements(HTMLParser):
    """Every element of a page with its attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v if v is not None else "" for k, v in attrs}))

    def all(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        return [a for t, a in self.found if t == tag
                and all(a.get(k.replace("_", "-")) == v for k, v in wanted.items())]


class Browser:
    """A test client used as a person's browser: cookies, forms with their CSRF token."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.page: Any = None

    def get(self, path: str, **kwargs: Any) -> Any:
        self.page = self.client.get(path, **kwargs)
        return self.page

    def csrf(self) -> str:
        token = Elements(self.page.text).all("input", name="csrf_token")
        assert token, "the page has no form with a CSRF token"
        return token[0]["value"]

    def form(self) -> dict[str, str]:
        """The answers form of the current page, as its hidden fields and boxes hold."""
        fields = {}
        for attrs in Elements(self.page.text).all("input"):
            if "name" in attrs and attrs.get("type") != "submit":
                fields[attrs["name"]] = attrs.get("value", "")
        fields.pop("next", None)
        return fields

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        data = {"csrf_token": self.csrf(), **(data or {})}
        return self.client.post(path, data=data, **kwargs)

    def link(self, username: str) -> str:
        with self.app.app_context():
            return sign_in.create_link(sessions.get_session(), username, 72).url("")

    def sign_in(self, username: str) -> Any:
        link = self.link(username)
        self.get(link)
        response = self.post(link)
        assert response.status_code == 303, response.text
        return response
