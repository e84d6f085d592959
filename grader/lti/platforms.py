"""The registered LMSs (LTI platforms) and their deployments: added and removed by an
admin (the command line, or the API), found by a launch from its issuer and client id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.i18n import gettext as _
from grader.models import (
    LtiContext,
    LtiDeployment,
    LtiPlatform,
    LtiResourceLink,
    LtiScoreJob,
    Role,
    ScoreJobState,
)
from grader.services.accounts import Caller, require_role
from grader.services.errors import Conflict, NotFound, ValidationFailed, quoted_name
from grader.services.transactions import transaction


@dataclass(frozen=True)
class PlatformFields:
    """What registers a platform: the values its LMS shows for this tool."""

    issuer: str
    client_id: str
    deployment_ids: Sequence[str]
    auth_url: str
    token_url: str
    jwks_url: str
    assistants_teach: bool = False


URL_FIELDS = ("issuer", "auth_url", "token_url", "jwks_url")
MAX_ID_LENGTH = 255
MAX_URL_LENGTH = 1000
# The lengths of the columns that store a registration.
FIELD_LIMITS = {"issuer": MAX_ID_LENGTH, "client_id": MAX_ID_LENGTH,
                "auth_url": MAX_URL_LENGTH, "token_url": MAX_URL_LENGTH,
                "jwks_url": MAX_URL_LENGTH}


def is_web_address(value: str) -> bool:
    """An http:// or https:// address with a host (https for any real LMS; http is for
    an LMS on this machine, in tests)."""
    if not value.isprintable():
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[^\s;,'\"\\]*)?")


def is_plain_web_address(value: str) -> bool:
    """A web address that may go into a header as it is: http(s), a host name (and
    port), no spaces, semicolons, commas, quotes or backslashes, at most 1000 characters."""
    return (len(value) <= MAX_URL_LENGTH and is_web_address(value)
            and _PLAIN_URL.fullmatch(value) is not None)


def check_fields(fields: PlatformFields) -> None:
    """ValidationFailed naming each field that is not what a platform needs."""
    errors = [{"pointer": f"/{name}",
               "detail": _("must be an http:// or https:// address")}
              for name in URL_FIELDS if not is_web_address(getattr(fields, name))]
    errors += [{"pointer": f"/{name}",
                "detail": _("at most {count} characters").format(count=limit)}
               for name, limit in FIELD_LIMITS.items() if len(getattr(fields, name)) > limit]
    if not fields.client_id.strip() or not fields.client_id.isprintable():
        errors.append({"pointer": "/client_id", "detail": _("must not be empty")})
    if not fields.deployment_ids or any(not d.strip() or not d.isprintable()
                                        for d in fields.deployment_ids):
        errors.append({"pointer": "/deployment_ids",
                       "detail": _("at least one deployment id, none empty")})
    elif any(len(d) > MAX_ID_LENGTH for d in fields.deployment_ids):
        errors.append({"pointer": "/deployment_ids",
                       "detail": _("at most {count} characters each").format(
                           count=MAX_ID_LENGTH)})
    if errors:
        raise ValidationFailed(_("the platform's registration is incomplete"), errors=errors)


def _admin(actor: Caller | None) -> None:
    if actor is not None:  # None: the command line, run by whoever runs the service
        require_role(actor, Role.ADMIN)


def add_platform(session: Session, actor: Caller | None, fields: PlatformFields) -> LtiPlatform:
    """Register a platform with its deployments (admins; Conflict when the issuer and
    client id are registered already)."""
    _admin(actor)
    check_fields(fields)
    taken = _("a platform with issuer {issuer} and client id {client_id} is registered "
              "already").format(issuer=quoted_name(fields.issuer),
                                client_id=quoted_name(fields.client_id))
    with transaction(session, conflict=taken):
        platform = LtiPlatform(
            issuer=fields.issuer, client_id=fields.client_id, auth_url=fields.auth_url,
            token_url=fields.token_url, jwks_url=fields.jwks_url,
            assistants_teach=fields.assistants_teach,
            deployments=[LtiDeployment(deployment_id=d)
                         for d in dict.fromkeys(fields.deployment_ids)])
        session.add(platform)
        session.flush()
        return platform


def list_platforms(session: Session, actor: Caller | None) -> list[LtiPlatform]:
    """Every registered platform, oldest first (admins)."""
    _admin(actor)
    with transaction(session):
        return list(session.execute(select(LtiPlatform).order_by(LtiPlatform.id)).scalars())


class ScoresWaiting(Conflict):
    """A platform still has scores to send or refused scores (409)."""

    code = "lti-scores-waiting"


def unsent_scores(session: Session, platform_id: int) -> int:
    """How many score jobs of a platform are pending or parked."""
    return session.execute(
        select(func.count(LtiScoreJob.id))
        .join(LtiResourceLink, LtiResourceLink.id == LtiScoreJob.resource_link_id)
        .join(LtiContext, LtiContext.id == LtiResourceLink.context_id)
        .join(LtiDeployment, LtiDeployment.id == LtiContext.deployment_id)
        .where(LtiDeployment.platform_id == platform_id,
               LtiScoreJob.state.in_((ScoreJobState.PENDING, ScoreJobState.PARKED)))
    ).scalar_one()


def remove_platform(session: Session, actor: Caller | None, platform_id: int,
                    force: bool = False) -> None:
    """Forget a platform, its deployments, LMS courses, placements and score jobs: its
    launches are refused from now on (admins; NotFound; ScoresWaiting while scores are
    pending or parked, unless `force`)."""
    _admin(actor)
    with transaction(session):
        platform = session.get(LtiPlatform, platform_id)
        if platform is None:
            raise NotFound(_("no LTI platform {id}").format(id=platform_id))
        waiting = unsent_scores(session, platform_id)
        if waiting and not force:
            raise ScoresWaiting(_(
                "platform {id} has scores still to send or refused by the LMS ({count}); "
                "removing it deletes them (to do so anyway: --force, or ?force=true in the "
                "API)").format(
                    id=platform_id, count=waiting), unsent_scores=waiting)
        session.delete(platform)


@dataclass(frozen=True)
class PlatformAddresses:
    """The addresses of a registration that may change (None: unchanged)."""

    auth_url: str | None = None
    token_url: str | None = None
    jwks_url: str | None = None


def update_platform(session: Session, actor: Caller | None, platform_id: int,
                    addresses: PlatformAddresses) -> LtiPlatform:
    """Change a platform's endpoints in place, keeping its courses, placements and score
    jobs (admins; NotFound; ValidationFailed)."""
    _admin(actor)
    wanted = {name: value for name, value in vars(addresses).items() if value is not None}
    errors = [{"pointer": f"/{name}", "detail": _("must be an http:// or https:// address")}
              for name, value in wanted.items() if not is_web_address(value)]
    errors += [{"pointer": f"/{name}",
                "detail": _("at most {count} characters").format(count=MAX_URL_LENGTH)}
               for name, value in wanted.items() if len(value) > MAX_URL_LENGTH]
    if errors:
        raise ValidationFailed(_("the platform's registration is incomplete"), errors=errors)
    with transaction(session):
        platform = session.get(LtiPlatform, platform_id)
        if platform is None:
            raise NotFound(_("no LTI platform {id}").format(id=platform_id))
        for name, value in wanted.items():
            setattr(platform, name, value)
        session.flush()
        return platform


def platforms_of_issuer(session: Session, issuer: str) -> list[LtiPlatform]:
    """The registrations of an issuer (usually one; one per client id)."""
    return list(session.execute(
        select(LtiPlatform).where(LtiPlatform.issuer == issuer).order_by(LtiPlatform.id)
    ).scalars())


def deployment_of(platform: LtiPlatform, deployment_id: str) -> LtiDeployment | None:
    return next((d for d in platform.deployments if d.deployment_id == deployment_id), None)
