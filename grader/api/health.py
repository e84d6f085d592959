"""/healthz (the process answers) and /readyz (the database answers, migrations at head)."""

from __future__ import annotations

from flask import Blueprint, current_app

from grader import db, sessions
from grader.api import schemas
from grader.api.operations import Reply, operation

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation("The process is up", response=schemas.HealthOut, public=True)
def healthz() -> schemas.HealthOut:
    return schemas.HealthOut(status="ok")


@bp.get("/readyz")
@operation("The database is reachable and its schema is at the latest migration",
           response=schemas.HealthOut, public=True, extra_statuses={503: schemas.HealthOut})
def readyz() -> Reply:
    engine = sessions.get_engine()
    head = db.head_revision()
    revision = db.current_revision(engine)
    if revision is None:
        out = schemas.HealthOut(status="unavailable", database="unreachable", head=head)
    elif revision != head:
        out = schemas.HealthOut(status="unavailable", database="ok", revision=revision or None,
                                head=head)
    else:
        return Reply(schemas.HealthOut(status="ok", database="ok", revision=revision, head=head),
                     200)
    retry_after = str(current_app.config["RETRY_AFTER_SECONDS"])
    return Reply(out, 503, {"Retry-After": retry_after})
