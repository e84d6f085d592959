"""/api/v1/lti/platforms: the LMSs registered as LTI 1.3 platforms (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from flask import Blueprint
from pydantic import AfterValidator, Field, StrictBool, StringConstraints

from grader.api.operations import Reply, operation
from grader.api.schemas import QueryModel, RequestModel, ResponseModel
from grader.lti import platforms
from grader.lti.platforms import PlatformFields, is_web_address
from grader.models import LtiPlatform, Role
from grader.services.accounts import Caller
from grader.sessions import get_session

bp = Blueprint("lti", __name__, url_prefix="/lti")


def _web_address(value: str) -> str:
    if not is_web_address(value):
        raise ValueError("must be an http:// or https:// address")
    return value


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must hold no control characters")
    return value


WebAddress = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000),
                       AfterValidator(_printable), AfterValidator(_web_address)]
# The issuer is stored (and matched) in a column of 255 characters.
IssuerAddress = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255),
                          AfterValidator(_printable), AfterValidator(_web_address)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=255), AfterValidator(_printable)]


class PlatformCreate(RequestModel):
    issuer: IssuerAddress = Field(description="the platform's issuer (iss), as its LMS shows it")
    client_id: Identifier = Field(description="the client id the LMS gave this tool")
    deployment_ids: Annotated[list[Identifier], Field(min_length=1, max_length=100)] = Field(
        description="the deployments whose launches are accepted")
    auth_url: WebAddress = Field(description="the LMS's OIDC authentication endpoint")
    token_url: WebAddress = Field(description="the LMS's OAuth 2 token endpoint")
    jwks_url: WebAddress = Field(description="the LMS's public key set (JWKS)")
    assistants_teach: StrictBool = Field(
        default=False, description="whether the LMS's teaching assistants are instructors "
        "here (else students)")


class PlatformOut(ResponseModel):
    id: int
    issuer: str
    client_id: str
    deployment_ids: list[str]
    auth_url: str
    token_url: str
    jwks_url: str
    assistants_teach: bool
    created_at: datetime


def platform_out(platform: LtiPlatform) -> PlatformOut:
    return PlatformOut(
        id=platform.id, issuer=platform.issuer, client_id=platform.client_id,
        deployment_ids=[d.deployment_id for d in platform.deployments],
        auth_url=platform.auth_url, token_url=platform.token_url,
        jwks_url=platform.jwks_url, assistants_teach=platform.assistants_teach,
        created_at=platform.created_at)


@bp.post("/platforms")
@operation("Register an LMS as an LTI 1.3 platform (admins); 409 when its issuer and "
           "client id are registered already", response=PlatformOut, status=201,
           body=PlatformCreate, roles=(Role.ADMIN,), problems=(400, 403, 409, 413, 415, 422))
def add_platform(actor: Caller, body: PlatformCreate) -> Reply:
    platform = platforms.add_platform(get_session(), actor, PlatformFields(
        issuer=body.issuer, client_id=body.client_id, deployment_ids=body.deployment_ids,
        auth_url=body.auth_url, token_url=body.token_url, jwks_url=body.jwks_url,
        assistants_teach=body.assistants_teach))
    return Reply(platform_out(platform), 201,
                 {"Location": f"/api/v1/lti/platforms/{platform.id}"})


@bp.get("/platforms")
@operation("The registered LTI platforms (admins)", response=list[PlatformOut],
           roles=(Role.ADMIN,), problems=(403,))
def list_platforms(actor: Caller) -> list[PlatformOut]:
    return [platform_out(p) for p in platforms.list_platforms(get_session(), actor)]


class PlatformRemoveQuery(QueryModel):
    force: bool = Field(default=False, description="remove it even though scores are still "
                        "to be sent or were refused (they are deleted with it)")


@bp.delete("/platforms/<row_id:platform_id>")
@operation("Remove a platform with its LMS courses, placements and score jobs: its "
           "launches are refused from now on (admins); 409 `lti-scores-waiting` while "
           "scores are pending or parked, unless ?force=true", status=204,
           query=PlatformRemoveQuery, roles=(Role.ADMIN,), problems=(403, 404, 409))
def remove_platform(actor: Caller, platform_id: int, query: PlatformRemoveQuery) -> None:
    platforms.remove_platform(get_session(), actor, platform_id, force=query.force)
