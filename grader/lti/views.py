"""The HTTP side of the LTI tool, thin over `grader.lti`: the login initiation and the
launch (pages, inside the web blueprint: the browser's session and language), the
tool's key set and configuration (plain JSON), and the page where an instructor links
a new placement to an assignment.
"""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from grader.i18n import gettext as _
from grader.lti import deep_linking, keys, launch, links
from grader.lti.launch import LOGIN_MINUTES, Launched
from grader.lti.messages import LaunchRefused
from grader.lti.platform_keys import PlatformKeys
from grader.lti.services import LmsClient
from grader.models import Feedback, ScorePolicy, utcnow
from grader.services import sign_in
from grader.sessions import get_session
from grader.web import browser
from grader.web.browser import check_csrf, signed_in

STATE_COOKIE_PREFIX = "grader_lti_state_"
KEY_SET_MAX_AGE = 300
LINK = "<int(max=2147483647):link_id>"
REQUEST = "<int(max=2147483647):request_id>"

# Scopes the tool asks for: line items and scores (AGS), the roster (NRPS).
SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)


def platform_keys() -> PlatformKeys:
    found: PlatformKeys = current_app.extensions["grader.lti_platform_keys"]
    return found


def tool_url(path: str) -> str:
    """One of the tool's addresses, below GRADER_BASE_URL."""
    return browser.settings().base_url + path


def state_cookie(state: str) -> str:
    """The cookie a login's state is kept in: one per login, so that two launches in
    two frames of one LMS page do not overwrite each other's."""
    return STATE_COOKIE_PREFIX + launch.digest(state)[:16]


# ---------------------------------------------------------------- pages


pages = Blueprint("lti", __name__, url_prefix="/lti")


@pages.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    parameters = {k: v for k, v in request.values.items() if isinstance(v, str)}
    started = launch.begin_login(get_session(), parameters, tool_url("/lti/launch"))
    browser.set_cross_site_cookie(state_cookie(started.state), started.state,
                                  utcnow() + timedelta(minutes=LOGIN_MINUTES))
    return redirect(started.url, 302)


@pages.post("/launch")
def launch_page() -> ResponseReturnValue:
    state = request.form.get("state")
    id_token = request.form.get("id_token")
    if not id_token:
        raise LaunchRefused(_("The LMS sent no id_token."))
    cookie = state_cookie(state) if state else None
    launched = launch.accept_launch(get_session(), id_token, state,
                                    request.cookies.get(cookie) if cookie else None,
                                    platform_keys())
    if cookie is not None:
        browser.visitor().drop_cookies.add(cookie)
    opened = launch_session(launched)
    browser.start_session(opened, cross_site=True)
    if launched.deep_linking is not None:
        request_id = deep_linking.remember(get_session(), launched, launched.deployment_row)
        return redirect(url_for("web.lti.deep_link_page", request_id=request_id), 303)
    return redirect(_destination(launched), 303)


def launch_session(launched: Launched) -> sign_in.OpenedSession:
    return sign_in.open_session(get_session(), launched.user_id,
                                browser.settings().session_hours,
                                replacing=request.cookies.get(browser.SESSION_COOKIE))


def _destination(launched: Launched) -> str:
    if launched.assignment_id is not None:
        return url_for("web.exercises.assignment_page", assignment_id=launched.assignment_id)
    if launched.resource_link is not None and launched.instructor:
        return url_for("web.lti.link_page", link_id=launched.resource_link)
    raise LaunchRefused(_("This activity is not set up yet: your instructor must open it "
                          "first."))


@pages.get(f"/links/{LINK}")
def link_page(link_id: int) -> ResponseReturnValue:
    choices = links.link_choices(get_session(), signed_in(), link_id)
    return render_template("lti_link.html", choices=choices)


@pages.post(f"/links/{LINK}")
def link_assignment(link_id: int) -> ResponseReturnValue:
    caller = signed_in()
    check_csrf()
    assignment_id = links.link_placement(
        get_session(), caller, link_id, request.form.get("assignment"),
        request.form.get("exercise"))
    return redirect(url_for("web.exercises.assignment_page", assignment_id=assignment_id), 303)


@pages.get(f"/deep-links/{REQUEST}")
def deep_link_page(request_id: int) -> ResponseReturnValue:
    choices = deep_linking.choices(get_session(), signed_in(), request_id)
    return render_template("lti_deep_link.html", choices=choices)


@pages.post(f"/deep-links/{REQUEST}")
def deep_link_answer(request_id: int) -> ResponseReturnValue:
    """Place the chosen assignment: a page whose form posts the signed answer to the
    LMS (a button, so that no script is needed)."""
    caller = signed_in()
    check_csrf()
    attempts = request.form.get("max_attempts", "").strip()
    feedback = request.form.get("feedback", Feedback.FULL.value)
    settings = deep_linking.Settings(
        max_attempts=int(attempts) if (attempts.isascii() and attempts.isdigit()
                                       and len(attempts) <= 4 and 0 < int(attempts) <= 1000)
        else None,
        feedback=Feedback(feedback) if feedback in {f.value for f in Feedback}
        else Feedback.FULL,
        score_policy=ScorePolicy.LATEST if request.form.get("score_policy") == "latest"
        else ScorePolicy.BEST)
    answer = deep_linking.answer(get_session(), caller, request_id,
                                 assignment=request.form.get("assignment"),
                                 exercise=request.form.get("exercise"), settings=settings,
                                 launch_url=tool_url("/lti/launch"))
    browser.visitor().form_target = answer.return_url
    return render_template("lti_deep_link_return.html", answer=answer)


def _launch_refused(exc: LaunchRefused) -> Response:
    return Response(render_template("lti_error.html", detail=exc.detail), status=400,
                    mimetype="text/html")


pages.register_error_handler(LaunchRefused, _launch_refused)


# ---------------------------------------------------------------- JSON


tool = Blueprint("lti_tool", __name__, url_prefix="/lti")


@tool.get("/jwks")
def key_set() -> ResponseReturnValue:
    grace = timedelta(hours=browser.settings().lti_key_grace_hours)
    response = jsonify(keys.public_key_set(get_session(), grace))
    response.headers["Cache-Control"] = f"public, max-age={KEY_SET_MAX_AGE}"
    return response


@tool.get("/config.json")
def configuration() -> ResponseReturnValue:
    """What an LMS admin pastes (Canvas's JSON configuration), with the same URLs under
    the names of the IMS registration (for Moodle and others)."""
    launch_url = tool_url("/lti/launch")
    return jsonify({
        "title": "Backprop Grader",
        "description": _("Backpropagation exercises on computational graphs, graded "
                         "blank by blank."),
        "oidc_initiation_url": tool_url("/lti/login"),
        "target_link_uri": launch_url,
        "public_jwk_url": tool_url("/lti/jwks"),
        "scopes": list(SCOPES),
        "extensions": [{
            "platform": "canvas.instructure.com",
            "privacy_level": "public",
            "settings": {"placements": [
                {"placement": placement, "message_type": "LtiDeepLinkingRequest",
                 "target_link_uri": launch_url}
                for placement in ("link_selection", "assignment_selection")]},
        }],
        "custom_fields": {},
        "initiate_login_uri": tool_url("/lti/login"),
        "redirect_uris": [launch_url],
        "jwks_uri": tool_url("/lti/jwks"),
    })


def init_app(app: Flask, web: Blueprint) -> None:
    """The pages go under the web blueprint (sessions, language, error pages); the
    JSON on the app itself."""
    settings = app.extensions["grader.settings"]
    app.extensions["grader.lti_platform_keys"] = PlatformKeys(settings.lti_http_timeout)
    # One per app: its access tokens are kept across requests.
    app.extensions["grader.lti_client"] = LmsClient(settings.lti_http_timeout)
    web.register_blueprint(pages)
    app.register_blueprint(tool)
