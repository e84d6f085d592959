"""A fake LMS for the LTI tests, served over real HTTP on loopback from a thread.

It has its own RSA key and publishes it (JWKS, with Cache-Control); its OIDC login
endpoint checks every parameter an authentication request must carry and answers the
auto-posting form an LMS answers, with an id_token it signs; its token endpoint checks
the tool's signed client assertion and refuses a reused jti; it serves AGS line items
and scores (told to fail N times, or to answer 429), NRPS memberships in pages, and a
deep linking return endpoint that verifies the tool's JWT.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from page_client import Elements

CLIENT_ID = "grader-tool"
DEPLOYMENT_ID = "deployment-1"
TOOL_LAUNCH = "http://127.0.0.1:8000/lti/launch"  # the tests' GRADER_BASE_URL
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
NOT_HTTP = 0  # a status in Failures: an answer that is not HTTP at all


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class Pending:
    """A launch the LMS will sign when the browser reaches its login endpoint."""

    claims: dict[str, Any]
    tamper: Callable[[dict[str, Any]], None] | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    key: Any = None  # sign with another key (PEM, or a str secret for HS256)
    algorithm: str = "RS256"


@dataclass
class Failures:
    """How the next requests to an endpoint fail: a status per request, in order."""

    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None


class FakeLms:
    def __init__(self) -> None:
        self.key = new_key()
        self.kid = "lms-key-1"
        self.jwks_fetches = 0
        self.cache_control = "max-age=300"
        self.jwks_status = 200  # NOT_HTTP: the key set's answer is not HTTP
        self.pending: dict[str, Pending] = {}
        self.auth_problems: list[str] = []
        self.redirect_uri = TOOL_LAUNCH
        self.tool_key_set: Callable[[], dict[str, Any]] = lambda: {"keys": []}
        self.used_jtis: set[str] = set()
        self.tokens_issued = 0
        self.token_generation = 0  # revoke_tokens() makes every token issued before invalid
        self.unauthorized = 0  # score requests refused for their token
        self.token_problems: list[str] = []
        self.line_items: dict[str, dict[str, Any]] = {}
        self.scores: list[dict[str, Any]] = []
        self.failures: dict[str, Failures] = {}
        self.members: list[dict[str, Any]] = []
        self.page_size = 2
        self.membership_body: Any = None  # answer this body to memberships instead
        self.deep_link_responses: list[dict[str, Any]] = []
        self.placed: list[dict[str, Any]] = []  # the resource links deep linking made
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.url

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def registration(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "client_id": CLIENT_ID,
                "deployment_ids": [DEPLOYMENT_ID], "auth_url": self.url + "/auth",
                "token_url": self.url + "/token", "jwks_url": self.url + "/jwks"}

    # ------------------------------------------------------------ messages

    def claims(self, sub: str = "student-1", roles: tuple[str, ...] = (LEARNER,),
               context: str = "course-1", link: str = "link-1",
               message_type: str = "LtiResourceLinkRequest", **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "sub": sub, "iat": now, "exp": now + 300,
            "name": f"Name of {sub}", "email": f"{sub}@example.edu",
            LTI + "message_type": message_type, LTI + "version": "1.3.0",
            LTI + "deployment_id": DEPLOYMENT_ID, LTI + "roles": list(roles),
            LTI + "target_link_uri": TOOL_LAUNCH,
            LTI + "context": {"id": context, "label": "NN", "title": "Neural networks"},
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                          "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
                "lineitems": f"{self.url}/{context}/lineitems"},
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": f"{self.url}/{context}/memberships",
                "service_versions": ["2.0"]},
        }
        if message_type == "LtiResourceLinkRequest":
            claims[LTI + "resource_link"] = {"id": link, "title": f"Placement {link}"}
        else:
            claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "deep_link_return_url": self.url + "/deep_link_return",
                "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets":
                ["iframe", "window"], "data": "opaque-platform-data"}
        claims.update(extra)
        return claims

    def expect(self, pending: Pending) -> str:
        """Register a launch; its lti_message_hint."""
        hint = secrets.token_urlsafe(8)
        self.pending[hint] = pending
        return hint

    def sign(self, claims: dict[str, Any], pending: Pending) -> str:
        key = pending.key if pending.key is not None else pem(self.key)
        if pending.algorithm == "none":
            key = None
        headers = {"kid": self.kid, **pending.headers}
        return jwt.encode(claims, key, algorithm=pending.algorithm, headers=headers)

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    # ------------------------------------------------------------ HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        lms = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _send(self, status: int, body: Any, content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                if status == NOT_HTTP:
                    self.wfile.write(b"this is not HTTP\r\n\r\n")
                    self.close_connection = True
                    return
                data = body if isinstance(body, bytes) else (
                    body.encode() if isinstance(body, str) else json.dumps(body).encode())
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/jwks":
                    with lms.lock:
                        lms.jwks_fetches += 1
                    self._send(lms.jwks_status, lms.jwks(),
                               headers={"Cache-Control": lms.cache_control})
                elif parts.path == "/auth":
                    self._send(*lms.authenticate(query))
                elif parts.path.endswith("/memberships"):
                    self._send(*lms.memberships(self.headers, parts.path, query))
                elif parts.path.endswith("/lineitems"):
                    self._send(*lms.list_line_items(self.headers, query))
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                body = self._body()
                if parts.path == "/token":
                    self._send(*lms.token(body))
                elif parts.path.endswith("/lineitems"):
                    self._send(*lms.create_line_item(self.headers, parts.path, body))
                elif parts.path.endswith("/scores"):
                    self._send(*lms.score(self.headers, parts.path, body))
                elif parts.path == "/deep_link_return":
                    self._send(*lms.deep_link_return(body))
                else:
                    self._send(404, {"error": "not found"})

        return Handler

    # ------------------------------------------------------------ OIDC login

    def authenticate(self, query: dict[str, str]) -> tuple[int, Any, str]:
        wanted = {"scope": "openid", "response_type": "id_token",
                  "response_mode": "form_post", "prompt": "none", "client_id": CLIENT_ID,
                  "redirect_uri": self.redirect_uri}
        problems = [f"{k}={query.get(k)!r}" for k, v in wanted.items() if query.get(k) != v]
        problems += [f"no {k}" for k in ("login_hint", "state", "nonce", "lti_message_hint")
                     if not query.get(k)]
        pending = self.pending.pop(query.get("lti_message_hint", ""), None)
        if pending is None:
            problems.append("unknown lti_message_hint")
        elif query.get("login_hint") != pending.claims["sub"]:
            problems.append("login_hint is not the user's")
        if problems or pending is None:
            self.auth_problems += problems
            return 400, {"error": "invalid_request", "problems": problems}, "application/json"
        claims = {**pending.claims, "nonce": query["nonce"]}
        if pending.tamper is not None:
            pending.tamper(claims)
        token = self.sign(claims, pending)
        form = (f'<form method="post" action="{query["redirect_uri"]}">'
                f'<input type="hidden" name="id_token" value="{token}">'
                f'<input type="hidden" name="state" value="{query["state"]}"></form>')
        return 200, form, "text/html"

    # ------------------------------------------------------------ tokens

    def _fail(self, endpoint: str) -> tuple[int, Any, str, dict[str, str]] | None:
        with self.lock:
            failing = self.failures.get(endpoint)
            if failing is None or not failing.statuses:
                return None
            status = failing.statuses.pop(0)
        headers = {"Retry-After": failing.retry_after} if (
            status == 429 and failing.retry_after) else {}
        return status, {"error": f"failing on purpose ({status})"}, "application/json", headers

    def revoke_tokens(self) -> None:
        """The LMS forgets every access token it issued (a 401 for each from now on)."""
        with self.lock:
            self.token_generation += 1

    def token(self, body: bytes) -> tuple[Any, ...]:
        failed = self._fail("token")
        if failed is not None:
            return failed
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        problems = []
        if form.get("grant_type") != "client_credentials":
            problems.append("grant_type")
        if form.get("client_assertion_type") != (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"):
            problems.append("client_assertion_type")
        try:
            header = jwt.get_unverified_header(form.get("client_assertion", ""))
            keys = {k["kid"]: k for k in self.tool_key_set()["keys"]}
            key = jwt.algorithms.RSAAlgorithm.from_jwk(keys[header["kid"]])
            claims = jwt.decode(form["client_assertion"], key, algorithms=["RS256"],
                                audience=self.url + "/token",
                                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]})
            if claims["iss"] != CLIENT_ID or claims["sub"] != CLIENT_ID:
                problems.append("iss/sub")
            with self.lock:
                if claims["jti"] in self.used_jtis:
                    problems.append("jti reused")
                self.used_jtis.add(claims["jti"])
        except (KeyError, jwt.PyJWTError) as exc:
            problems.append(f"assertion: {exc!r}")
        if problems:
            self.token_problems += problems
            return 400, {"error": "invalid_client", "problems": problems}
        with self.lock:
            self.tokens_issued += 1
        return 200, {"access_token": f"at-{self.token_generation}-{uuid.uuid4().hex}",
                     "token_type": "Bearer",
                     "expires_in": 3600, "scope": form.get("scope", "")}

    def _authorized(self, headers: Any) -> bool:
        return str(headers.get("Authorization", "")).startswith(
            f"Bearer at-{self.token_generation}-")

    # ------------------------------------------------------------ AGS

    def list_line_items(self, headers: Any, query: dict[str, str]) -> tuple[int, Any, str]:
        if not self._authorized(headers):
            return 401, {"error": "no token"}, "application/json"
        found = [item for item in self.line_items.values()
                 if query.get("resource_link_id") in (None, item.get("resourceLinkId"))]
        return 200, found, "application/vnd.ims.lis.v2.lineitemcontainer+json"

    def create_line_item(self, headers: Any, path: str, body: bytes
                         ) -> tuple[int, Any, str]:
        if not self._authorized(headers):
            return 401, {"error": "no token"}, "application/json"
        item = json.loads(body)
        with self.lock:
            item_id = f"{self.url}{path}/{len(self.line_items) + 1}"
            item["id"] = item_id
            self.line_items[item_id] = item
        return 201, item, "application/vnd.ims.lis.v2.lineitem+json"

    def score(self, headers: Any, path: str, body: bytes) -> tuple[Any, ...]:
        failed = self._fail("scores")
        if failed is not None:
            return failed
        if not self._authorized(headers):
            with self.lock:
                self.unauthorized += 1
            return 401, {"error": "no token"}, "application/json"
        if headers.get("Content-Type") != SCORE_TYPE:
            return 415, {"error": "wrong content type"}, "application/json"
        line_item = f"{self.url}{path.removesuffix('/scores')}"
        if line_item not in self.line_items:
            return 404, {"error": "no such line item"}, "application/json"
        with self.lock:
            self.scores.append({**json.loads(body), "lineItem": line_item})
        return 200, {}, "application/json"

    # ------------------------------------------------------------ NRPS

    def memberships(self, headers: Any, path: str, query: dict[str, str]
                    ) -> tuple[int, Any, str, dict[str, str]]:
        failed = self._fail("memberships")
        if failed is not None:
            return failed
        if not self._authorized(headers):
            return 401, {"error": "no token"}, "application/json", {}
        if self.membership_body is not None:
            return 200, self.membership_body, "application/json", {}
        page = int(query.get("page", "1"))
        start = (page - 1) * self.page_size
        members = self.members[start:start + self.page_size]
        headers_out = {}
        if start + self.page_size < len(self.members):
            next_url = f"{self.url}{path}?{urlencode({'page': page + 1})}"
            headers_out["Link"] = f'<{next_url}>; rel="next"'
        body = {"id": self.url + path, "context": {"id": "course-1"}, "members": members}
        return (200, body, "application/vnd.ims.lti-nrps.v2.membershipcontainer+json",
                headers_out)

    # ------------------------------------------------------------ deep linking

    def deep_link_return(self, body: bytes) -> tuple[int, Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        try:
            header = jwt.get_unverified_header(form["JWT"])
            keys = {k["kid"]: k for k in self.tool_key_set()["keys"]}
            key = jwt.algorithms.RSAAlgorithm.from_jwk(keys[header["kid"]])
            claims = jwt.decode(form["JWT"], key, algorithms=["RS256"], audience=self.issuer,
                                options={"require": ["iss", "aud", "exp", "iat", "nonce"]})
        except (KeyError, jwt.PyJWTError) as exc:
            return 400, {"error": repr(exc)}
        if claims.get(LTI + "message_type") != "LtiDeepLinkingResponse" or (
                claims.get("iss") != CLIENT_ID):
            return 400, {"error": "not a deep linking response from the tool"}
        self.deep_link_responses.append(claims)
        items = claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/content_items", [])
        for item in items:
            link = f"dl-link-{len(self.placed) + 1}"
            placed = {"link": link, "custom": item.get("custom", {}), "lineitem": None}
            if "lineItem" in item:
                with self.lock:
                    item_id = f"{self.url}/course-1/lineitems/{len(self.line_items) + 1}"
                    self.line_items[item_id] = {**item["lineItem"], "id": item_id,
                                                "resourceLinkId": link}
                placed["lineitem"] = item_id
            self.placed.append(placed)
        return 200, {"ok": True}


def launch_form(page_text: str) -> dict[str, str]:
    """The fields of the LMS's auto-posting form."""
    return {a["name"]: a["value"] for a in Elements(page_text).all("input")}
