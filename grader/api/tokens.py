"""/api/v1/tokens: the caller's API tokens (an admin's: anyone's), made, listed and
revoked. A token's secret is shown only in the response that made it."""

from __future__ import annotations

from flask import Blueprint

from grader.api import schemas
from grader.api.operations import Reply, operation
from grader.auth import bearer_token, caller_cache
from grader.models import utcnow
from grader.services import tokens
from grader.services.accounts import Caller
from grader.sessions import get_session

bp = Blueprint("tokens", __name__, url_prefix="/tokens")

TOKEN = "<row_id:token_id>"


def token_out(token: tokens.TokenInfo) -> schemas.TokenOut:
    return schemas.TokenOut(**token_fields(token))


def token_fields(token: tokens.TokenInfo) -> dict[str, object]:
    return {"id": token.id, "user": token.user, "name": token.name, "prefix": token.prefix,
            "created_at": token.created_at, "expires_at": token.expires_at,
            "last_used_at": token.last_used_at, "revoked_at": token.revoked_at,
            "active": token.is_active(utcnow())}


@bp.post("")
@operation("Make a token for the caller, named, with an optional expiry (never later "
           "than the presented token's own); the token itself is shown only in this "
           "response", response=schemas.NewTokenOut,
           status=201, body=schemas.TokenCreate, problems=(400, 413, 415, 422))
def create_token(actor: Caller, body: schemas.TokenCreate) -> Reply:
    session = get_session()
    # A token made with a token expires no later than it: an expiring or leaked token
    # cannot mint one that outlives it.
    presented = tokens.presented_expiry(session, bearer_token() or "")
    created = tokens.create_token(session, actor.username, body.name,
                                  tokens.within(body.expires_at, presented), by=actor)
    out = schemas.NewTokenOut(**token_fields(created.info), token=created.token)
    return Reply(out, 201)


@bp.get("")
@operation("The caller's tokens, revoked and expired ones included, never their secret "
           "(?user=: another user's, for admins)", response=list[schemas.TokenOut],
           query=schemas.TokensQuery, problems=(403, 404))
def list_tokens(actor: Caller, query: schemas.TokensQuery) -> list[schemas.TokenOut]:
    username = query.user if query.user is not None else actor.username
    return [token_out(t) for t in tokens.list_tokens(get_session(), username, by=actor)]


@bp.delete(f"/{TOKEN}")
@operation("Revoke a token of the caller's (admins: anyone's); refused from now on",
           response=None, status=204, problems=(404,))
def revoke_token(actor: Caller, token_id: int) -> None:
    tokens.revoke_token(get_session(), token_id, by=actor, cache=caller_cache())
