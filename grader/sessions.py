"""The database session of each request, on the app's engines.

`init_app(app, url, settings)` builds the engines and registers the teardown that
closes the request's session. Handlers get the session with `get_session()`; nothing
keeps a session between requests. Operations declared `autocommit` (the submit path)
open theirs on an engine of their own first (`open_autocommit_session`): each of their
statements is its own transaction, which saves the BEGIN and COMMIT round trips.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from grader import db
from grader.config import Settings


def init_app(app: Flask, url: str, settings: Settings) -> None:
    engine = db.make_engine(url, settings)
    autocommit = db.autocommit_engine(engine, url, settings)
    app.extensions["grader.engines"] = (engine, autocommit)
    app.extensions["grader.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.extensions["grader.autocommit_sessionmaker"] = sessionmaker(
        autocommit, expire_on_commit=False)
    app.teardown_appcontext(close_session)


def get_engine(app: Flask | None = None) -> Engine:
    return engines(app)[0]


def engines(app: Flask | None = None) -> tuple[Engine, Engine]:
    """Every engine of an app: the transactional one first, then the submit path's."""
    found: tuple[Engine, Engine] = (app or current_app).extensions["grader.engines"]
    return found


def dispose(app: Flask) -> None:
    """Close every pooled connection of an app."""
    for engine in engines(app):
        engine.dispose()


def get_session() -> Session:
    """The session of the current request, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["grader.sessionmaker"]()
    session: Session = g.db_session
    return session


def open_autocommit_session() -> Session:
    """Open the current request's session in autocommit: its statements are each their
    own transaction. Only for a request whose writes are single self-checking
    statements; call it before `get_session()`."""
    if "db_session" in g:
        raise RuntimeError("the request's session is already open")
    session: Session = current_app.extensions["grader.autocommit_sessionmaker"]()
    g.db_session = session
    return session


def reopen_in_transaction() -> Session:
    """Close the current request's session and open a transactional one in its place:
    for an autocommit request that finds it must write several rows together."""
    close_session()
    return get_session()


def close_session(exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
