"""Launching the tool from the fake LMS, as a browser does: the login initiation, the
LMS's login endpoint (over HTTP), then the auto-posted form."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from fake_lms import CLIENT_ID, DEPLOYMENT_ID, TOOL_LAUNCH, FakeLms, Pending, launch_form
from flask import Flask
from flask.testing import FlaskClient

from grader import sessions
from grader.lti import platforms
from grader.lti.platforms import PlatformFields


def register(app: Flask, lms: FakeLms, **changes: Any) -> int:
    with app.app_context():
        fields = PlatformFields(**{**lms.registration(), **changes})
        return platforms.add_platform(sessions.get_session(), None, fields).id


def login(client: FlaskClient, lms: FakeLms, pending: Pending, base_url: str | None = None,
          **params: str) -> Any:
    hint = lms.expect(pending)
    data = {"iss": lms.issuer, "login_hint": pending.claims["sub"],
            "target_link_uri": TOOL_LAUNCH, "lti_message_hint": hint,
            "client_id": CLIENT_ID, "lti_deployment_id": DEPLOYMENT_ID, **params}
    return client.post("/lti/login", data=data,
                       **({"base_url": base_url} if base_url else {}))


def fetch_form(location: str) -> dict[str, str]:
    """The LMS's answer to the authentication request: its auto-posting form."""
    try:
        with urllib.request.urlopen(location, timeout=10) as response:
            return launch_form(response.read().decode())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"the LMS refused the login: {exc.read().decode()}") from None


def launch_form_of(client: FlaskClient, lms: FakeLms, pending: Pending) -> dict[str, str]:
    started = login(client, lms, pending)
    assert started.status_code == 302, started.text
    return fetch_form(started.headers["Location"])


def launch(client: FlaskClient, lms: FakeLms, pending: Pending | None = None,
           **claims: Any) -> Any:
    """A whole launch; the tool's answer to the posted form."""
    pending = pending or Pending(lms.claims(**claims))
    form = launch_form_of(client, lms, pending)
    return client.post("/lti/launch", data=form)
