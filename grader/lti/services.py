"""Calling an LMS's LTI Advantage services: access tokens by the client-credentials
grant with a signed JWT assertion, line items (AGS), scores, and memberships (NRPS).

Tokens are kept per platform and scope set until a minute before they expire; a 401
from a service drops the kept token and the request is tried once more with a new one.
A timeout, a broken connection, a 5xx, a 429 (with its Retry-After), a second 401 or
a refusal by the token endpoint is `Retryable`; any other 4xx is `Refused`, with the
LMS's answer.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Any

from grader.lti.keys import SigningKey
from grader.models import LtiPlatform, utcnow

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINE_ITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINE_ITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MEMBERSHIPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
SCOPE_LINE_ITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
# One token serves every grade passback call.
GRADE_SCOPES = (SCOPE_LINE_ITEM, SCOPE_SCORE)
TOKEN_MARGIN_SECONDS = 60
ASSERTION_SECONDS = 300
MAX_ANSWER_BYTES = 4_194_304
MAX_PAGES = 1000
MAX_RETRY_AFTER_SECONDS = 3600.0  # the backoff's own maximum: no LMS parks a job for a year
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


class Retryable(Exception):
    """The LMS did not answer, or answered that it cannot now: try again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(Exception):
    """The LMS refused the request for good (a 4xx): its status and answer."""

    def __init__(self, status: int, answer: str) -> None:
        super().__init__(f"HTTP {status}: {answer}")
        self.status = status
        self.answer = answer


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise Refused(self.status, "the answer is not JSON") from None


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's delay: seconds, or an HTTP date."""
    if not value:
        return None
    seconds = value.strip()
    if seconds.isascii() and seconds.isdigit():
        return min(float(seconds), MAX_RETRY_AFTER_SECONDS)
    try:
        delay = (parsedate_to_datetime(value) - utcnow()).total_seconds()
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max(delay, 0.0), MAX_RETRY_AFTER_SECONDS)


def http(method: str, url: str, timeout: float, headers: Mapping[str, str] | None = None,
         body: bytes | None = None) -> Answer:
    """One HTTP request; Retryable or Refused unless it succeeds (2xx)."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers.items()),
                          response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        try:
            answer = exc.read(4096).decode("utf-8", "replace")
        except (OSError, HTTPException) as unread:
            answer = f"(the answer could not be read: {unread!r})"
        if exc.code == 429 or exc.code >= 500:
            raise Retryable(f"HTTP {exc.code}: {answer}",
                            retry_after_seconds(exc.headers.get("Retry-After"))) from None
        raise Refused(exc.code, answer) from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, resets
        raise Retryable(f"no answer: {exc}") from None
    except HTTPException as exc:  # not HTTP: a bad status line, a cut answer, ...
        raise Retryable(f"the answer is not proper HTTP: {exc!r}") from None


class LmsClient:
    """The LTI Advantage services of the platforms, for one process."""

    def __init__(self, timeout: float = 10.0,
                 send: Callable[..., Answer] = http,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._send = send
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def access_token(self, platform: LtiPlatform, key: SigningKey,
                     scopes: Sequence[str]) -> str:
        """A bearer token for the scopes, kept until shortly before it expires."""
        scope = " ".join(sorted(scopes))
        cache_key = (platform.token_url, platform.client_id, scope)
        with self._lock:
            kept = self._tokens.get(cache_key)
        if kept is not None and kept[1] > self._clock():
            return kept[0]
        now = int(time.time())
        assertion = key.sign({"iss": platform.client_id, "sub": platform.client_id,
                              "aud": platform.token_url, "iat": now,
                              "exp": now + ASSERTION_SECONDS, "jti": str(uuid.uuid4())})
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, "scope": scope}).encode()
        try:
            answer = self._send("POST", platform.token_url, self.timeout,
                                {"Content-Type": "application/x-www-form-urlencoded",
                                 "Accept": "application/json"}, form).json()
        except Refused as exc:
            # Right after `grader lti key rotate` an LMS may still hold the old key set
            # and refuse the assertion for a while: retried, parked only once the tries
            # run out.
            raise Retryable(f"the token endpoint refused: {exc}") from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise Retryable("the token endpoint gave no access_token")
        lifetime = answer.get("expires_in", 3600)
        lifetime = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        with self._lock:
            self._tokens[cache_key] = (token, self._clock() + lifetime - TOKEN_MARGIN_SECONDS)
        return token

    def forget_tokens(self, platform: LtiPlatform | None = None,
                      scopes: Sequence[str] = ()) -> None:
        """Drop the kept token of a platform's scopes (every token without a platform)."""
        with self._lock:
            if platform is None:
                self._tokens.clear()
            else:
                self._tokens.pop((platform.token_url, platform.client_id,
                                  " ".join(sorted(scopes))), None)

    def _call(self, platform: LtiPlatform, key: SigningKey, scopes: Sequence[str],
              method: str, url: str, accept: str, content_type: str | None = None,
              payload: Any = None) -> Answer:
        """One service request; a 401 (the LMS no longer takes the kept token) drops it
        and tries once more with a new one, then is Retryable."""
        body = None if payload is None else json.dumps(payload).encode()
        for _try in range(2):
            headers = {"Authorization": f"Bearer {self.access_token(platform, key, scopes)}",
                       "Accept": accept}
            if body is not None:
                headers["Content-Type"] = content_type or "application/json"
            try:
                return self._send(method, url, self.timeout, headers, body)
            except Refused as exc:
                if exc.status != 401:
                    raise
                self.forget_tokens(platform, scopes)
                refused = exc
        raise Retryable(f"the LMS refused a new access token too: {refused}")

    def find_or_create_line_item(self, platform: LtiPlatform, key: SigningKey,
                                 lineitems_url: str, resource_link_id: str, label: str,
                                 score_maximum: float) -> str:
        """The line item of a placement: the one the LMS lists for it, else a new one."""
        separator = "&" if "?" in lineitems_url else "?"
        listed = self._call(
            platform, key, GRADE_SCOPES, "GET",
            f"{lineitems_url}{separator}"
            f"{urllib.parse.urlencode({'resource_link_id': resource_link_id})}",
            LINE_ITEMS_TYPE).json()
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, dict) and item.get("resourceLinkId") == resource_link_id and (
                    isinstance(item.get("id"), str)):
                return str(item["id"])
        created = self._call(platform, key, GRADE_SCOPES, "POST", lineitems_url,
                             LINE_ITEM_TYPE, LINE_ITEM_TYPE,
                             {"scoreMaximum": score_maximum, "label": label,
                              "resourceLinkId": resource_link_id}).json()
        if not isinstance(created, dict) or not isinstance(created.get("id"), str):
            raise Refused(200, "the LMS made a line item without an id")
        return str(created["id"])

    def post_score(self, platform: LtiPlatform, key: SigningKey, lineitem_url: str,
                   score: Mapping[str, Any]) -> None:
        parts = urllib.parse.urlsplit(lineitem_url)
        scores_url = urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, parts.path.rstrip("/") + "/scores", parts.query, ""))
        self._call(platform, key, GRADE_SCOPES, "POST", scores_url, "application/json",
                   SCORE_TYPE, dict(score))

    def members(self, platform: LtiPlatform, key: SigningKey, memberships_url: str
                ) -> Iterator[dict[str, Any]]:
        """Every member of a context, following the answers' rel="next" links."""
        url: str | None = memberships_url
        for _page in range(MAX_PAGES):
            if url is None:
                return
            answer = self._call(platform, key, [SCOPE_MEMBERSHIPS], "GET", url,
                                MEMBERSHIPS_TYPE)
            document = answer.json()
            members = document.get("members", []) if isinstance(document, dict) else None
            if not isinstance(members, list):
                raise Refused(answer.status, "the membership has no list of members")
            for member in members:
                if isinstance(member, dict):
                    yield member
            link = next((v for k, v in answer.headers.items() if k.lower() == "link"), "")
            found = _NEXT_LINK.search(link)
            url = urllib.parse.urljoin(url, found.group(1)) if found else None
