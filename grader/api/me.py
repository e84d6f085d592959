"""/api/v1/me: the caller's own account, and the language they read the service in."""

from __future__ import annotations

from flask import Blueprint

from grader.api import schemas
from grader.api.operations import operation
from grader.auth import caller_cache
from grader.services import accounts
from grader.services.accounts import Caller
from grader.sessions import get_session

bp = Blueprint("me", __name__, url_prefix="/me")


def me_out(actor: Caller) -> schemas.MeOut:
    return schemas.MeOut(username=actor.username, role=actor.role, language=actor.language)


@bp.get("")
@operation("The caller: username, role and the language chosen", response=schemas.MeOut)
def get_me(actor: Caller) -> schemas.MeOut:
    return me_out(actor)


@bp.patch("")
@operation('Choose the language the caller reads the service in ("pt-BR", "en", or null)',
           response=schemas.MeOut, body=schemas.MeUpdate, problems=(400, 413, 415, 422))
def update_me(actor: Caller, body: schemas.MeUpdate) -> schemas.MeOut:
    if "language" in body.model_fields_set:
        actor = accounts.set_language(get_session(), actor, body.language)
        # This worker's cached callers of the user are stale now: drop them.
        caller_cache().forget_user(actor.id)
    return me_out(actor)
