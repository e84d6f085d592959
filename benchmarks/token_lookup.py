"""What resolving a bearer token costs when the cache of token owners misses.

    .venv/bin/python benchmarks/token_lookup.py [--lookups 2000] [--rounds 5]

Each lookup is a request's: a fresh session from the pool, `caller_for_token` without
the cache (every lookup reads the database), the session closed. Three ways, taking
turns round after round so that other jobs on the machine weigh on all alike:

- **before**: the read as it was before tokens had an expiry and a last use (the owner
  by the token's public id, not revoked; no stamp), rebuilt here as the baseline;
- **now**: `caller_for_token` as the service runs it: the read also refuses an expired
  token and returns the last use, which is recent, so nothing is written;
- **stamp every time**: the same, plus the stamp written on every lookup (what
  updating `last_used_at` on every request would cost; the service writes it at most
  once a minute per token).

Prints microseconds per lookup (the fastest round of each) and the ratios to
`before`. DATABASE_URL selects the database (default: a temporary SQLite file; a
PostgreSQL URL works in a schema of its own, dropped at the end).
"""

from __future__ import annotations

import argparse
import hmac
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import bindparam, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader import db  # noqa: E402
from grader.config import Settings  # noqa: E402
from grader.db import first_row  # noqa: E402
from grader.models import ApiToken, Role, User, utcnow  # noqa: E402
from grader.services import accounts  # noqa: E402

BEFORE = (
    select(User.id, User.username, User.role, User.language, ApiToken.secret_hash)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.public_id == bindparam("public_id"), ApiToken.revoked_at.is_(None))
)


def lookup_before(session: Session, token: str) -> accounts.Caller | None:
    match = accounts.TOKEN_FORMAT.fullmatch(token)
    if match is None:
        return None
    row = first_row(session, BEFORE, {"public_id": match["public_id"]})
    presented = accounts.hash_secret(match["secret"])
    if row is None or not hmac.compare_digest(presented, row.secret_hash):
        return None
    return accounts.Caller(row.id, row.username, row.role, row.language)


def lookup_now(session: Session, token: str) -> accounts.Caller | None:
    return accounts.caller_for_token(session, token)


class StampEveryTime:
    """`caller_for_token`, then the stamp written whatever the last use."""

    def __init__(self, token_id: int) -> None:
        self.token_id = token_id
        self.minutes = 0

    def __call__(self, session: Session, token: str) -> accounts.Caller | None:
        caller = accounts.caller_for_token(session, token)
        self.minutes += 2  # a time a minute past the last stamp: the UPDATE writes
        accounts.stamp_use(session, self.token_id, utcnow() + timedelta(minutes=self.minutes))
        return caller


def timed(make_session: sessionmaker[Session], lookup: Callable[[Session, str], object],
          token: str, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        with make_session() as session:
            if lookup(session, token) is None:
                raise RuntimeError("the token was refused")
    return (time.perf_counter() - started) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lookups", type=int, default=2000, help="lookups per round and way")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL")
    folder = tempfile.TemporaryDirectory()
    schema = None
    if base is None:
        url = f"sqlite:///{Path(folder.name) / 'tokens.sqlite3'}"
    else:
        schema = f"bench_tokens_{secrets.token_hex(4)}"
        admin = create_engine(base, poolclass=NullPool)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        db.upgrade(url)
        engine = db.make_engine(url, Settings(database_url=url, testing=True))
        make_session = sessionmaker(engine, expire_on_commit=False)
        with make_session() as session:
            accounts.create_user(session, "ada", Role.STUDENT)
            token = accounts.create_token(session, "ada", "bench")
            token_id = session.execute(select(ApiToken.id)).scalar_one()
        ways: dict[str, Callable[[Session, str], object]] = {
            "before": lookup_before, "now": lookup_now,
            "stamp every time": StampEveryTime(token_id)}
        best = dict.fromkeys(ways, float("inf"))
        for way in ways.values():  # warm up: pool, statement caches
            timed(make_session, way, token, min(200, args.lookups))
        for _ in range(args.rounds):
            for name, way in ways.items():
                best[name] = min(best[name], timed(make_session, way, token, args.lookups))
        print(f"database: {engine.dialect.name}; {args.lookups} lookups x {args.rounds} "
              "rounds, fastest round")
        for name, micros in best.items():
            print(f"  {name:<18} {micros:8.1f} us/lookup  {micros / best['before']:5.2f}x")
        engine.dispose()
    finally:
        if schema is not None and base is not None:
            admin = create_engine(base, poolclass=NullPool)
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        folder.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
