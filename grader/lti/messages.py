"""The checks an LTI id_token passes before anything in it is trusted.

Beyond what common LTI libraries check, a token is refused when it has several
audiences and no `azp`, an `azp` that is not this tool, no `exp` or `iat`, or an `iat`
more than a minute ahead; it must be RS256 (never `none` or an HMAC), signed by a key
the platform publishes under the token's kid, from a registered issuer, client id and
deployment, of LTI version 1.3.0 and a message type the tool handles. The nonce is
checked, and used up, by `launch`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt

from grader.i18n import gettext as _
from grader.lti.platform_keys import KeySetUnavailable, PlatformKeys
from grader.models import LtiDeployment, LtiPlatform
from grader.services.errors import ServiceError

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
ROLES = LTI + "roles"
CONTEXT = LTI + "context"
RESOURCE_LINK = LTI + "resource_link"
CUSTOM = LTI + "custom"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
MESSAGE_TYPES = (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST)
LTI_VERSION = "1.3.0"
ALGORITHM = "RS256"
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "nonce", "sub")


class LaunchRefused(ServiceError):
    """A launch that is not let in: its page says why (400)."""

    code = "lti-launch-refused"


@dataclass(frozen=True)
class CheckedToken:
    """An id_token whose every check passed: its platform, deployment and claims."""

    platform: LtiPlatform
    deployment: LtiDeployment
    claims: dict[str, Any]

    @property
    def message_type(self) -> str:
        return str(self.claims[MESSAGE_TYPE])

    def claim(self, name: str) -> dict[str, Any]:
        """A claim that is an object ({} when absent or not an object)."""
        value = self.claims.get(name)
        return value if isinstance(value, dict) else {}


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_ROW_ID = 2**31 - 1  # ids are 32-bit integer columns
MAX_SUBJECT = 255  # LmsIdentity.subject


def has_nul(value: Any) -> bool:
    """Whether a NUL character or a lone surrogate (text that is not Unicode, as JSON's
    "\\ud800" gives) is anywhere in a value: no text column stores either."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def storable(text: str) -> str:
    """A text without the characters no column stores (NUL, lone surrogates)."""
    return _UNSTORABLE.sub("", text)


def is_subject(value: Any) -> TypeGuard[str]:
    """Whether a value is an LMS user id (`sub`) an account can be matched by."""
    return (isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_SUBJECT
            and not has_nul(value))


def row_id(value: Any) -> int | None:
    """A database id written as text (ASCII digits, within the id column's range), or
    None."""
    text = str(value).strip() if isinstance(value, str | int) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ROW_ID else None


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return aud
    return []


def check_id_token(token: str, registered: Sequence[LtiPlatform],
                   keys: PlatformKeys) -> CheckedToken:
    """Every check of the module's docstring, in order; LaunchRefused naming the first
    that fails. `registered`: the platforms of the token's issuer (`unverified_issuer`)."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise LaunchRefused(_("The LMS sent no readable id_token.")) from None
    if has_nul(unverified) or has_nul(header):
        raise LaunchRefused(_("The id_token is not valid."))
    if "sub" in unverified and not is_subject(unverified["sub"]):
        raise LaunchRefused(_("The id_token's subject (sub) must be a text of 1 to 255 "
                              "characters."))
    if any(isinstance(unverified.get(name), bool) for name in ("iat", "exp", "nbf")):
        raise LaunchRefused(_("The id_token's times (iat, exp) must be numbers."))
    if header.get("alg") != ALGORITHM:
        raise LaunchRefused(_("The id_token must be signed with RS256."))
    if not registered:
        raise LaunchRefused(_("The LMS that sent this launch (its issuer) is not "
                              "registered here."))
    audiences = _audiences(unverified)
    platform = next((p for p in registered if p.client_id in audiences), None)
    if platform is None:
        raise LaunchRefused(_("The id_token is not meant for this tool (its audience "
                              "lacks the client id)."))
    if len(audiences) > 1 and "azp" not in unverified:
        raise LaunchRefused(_("The id_token has several audiences and no authorized "
                              "party (azp)."))
    if "azp" in unverified and unverified["azp"] != platform.client_id:
        raise LaunchRefused(_("The id_token's authorized party (azp) is not this tool."))
    kid = header.get("kid")
    try:
        key = keys.key(platform.jwks_url, kid) if isinstance(kid, str) else None
    except KeySetUnavailable:
        raise LaunchRefused(_("The LMS's public keys could not be fetched; try again "
                              "later.")) from None
    if key is None:
        raise LaunchRefused(_("The id_token is signed with a key the LMS does not "
                              "publish."))
    claims = _verified(token, key, platform)
    if claims.get(VERSION) != LTI_VERSION:
        raise LaunchRefused(_("The launch is not LTI 1.3.0."))
    if claims.get(MESSAGE_TYPE) not in MESSAGE_TYPES:
        raise LaunchRefused(_("The launch's message type is not one this tool handles."))
    deployment_id = claims.get(DEPLOYMENT_ID)
    deployment = next((d for d in platform.deployments
                       if d.deployment_id == deployment_id), None)
    if deployment is None:
        raise LaunchRefused(_("The launch comes from a deployment that is not "
                              "registered here."))
    return CheckedToken(platform, deployment, claims)


def unverified_issuer(token: str) -> str | None:
    """The `iss` a token claims, before any check: which registrations to try."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return issuer if isinstance(issuer, str) and not has_nul(issuer) else None


def _verified(token: str, key: Any, platform: LtiPlatform) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=platform.client_id,
            issuer=platform.issuer, leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS), "verify_iat": True})
    except jwt.InvalidSignatureError:
        raise LaunchRefused(_("The id_token's signature is not the LMS's.")) from None
    except jwt.ExpiredSignatureError:
        raise LaunchRefused(_("The id_token has expired; open the activity again.")) from None
    except jwt.ImmatureSignatureError:
        raise LaunchRefused(_("The id_token was issued in the future.")) from None
    except jwt.MissingRequiredClaimError as exc:
        raise LaunchRefused(_("The id_token lacks the claim {claim}.").format(
            claim=exc.claim)) from None
    except jwt.PyJWTError:
        raise LaunchRefused(_("The id_token is not valid.")) from None
    return claims
