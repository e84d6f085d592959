"""One use case, one transaction: the boundary every public use case draws at its top.

Helpers below a use case add, flush and read; they never commit. The use case commits
once when its work is done and rolls back when it fails, so on the transactional engine
a request does all that it does or nothing. (The submit path runs in autocommit: each
of its writes commits as it runs, and each is one self-checking statement; a variant it
draws stays stored even when the attempt is then refused.) A unique constraint that a
concurrent request broke first (an attempt or variant number taken a moment earlier) is
not an error of the caller's: the use case runs again from the start and sees the row
that won. Any other integrity error is a bug, and is raised as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.db import is_unique_violation
from grader.services.errors import Conflict

T = TypeVar("T")


@contextmanager
def transaction(session: Session, *, conflict: str | None = None) -> Iterator[Session]:
    """Commit when the block ends, roll back when it raises. With `conflict`, a unique
    constraint the block breaks is a Conflict saying so (a name already taken)."""
    try:
        yield session
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        if conflict is None or not is_unique_violation(exc):
            raise
        raise Conflict(conflict) from None
    except BaseException:
        session.rollback()
        raise


def run_transaction(session: Session, work: Callable[[], T], *, tries: int,
                    exhausted: str) -> T:
    """`work()` as one transaction, run again from the start (up to `tries` times in
    all) when a concurrent request broke one of its unique constraints first; then a
    Conflict saying `exhausted`."""
    for _ in range(tries):
        try:
            with transaction(session):
                return work()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            continue
    raise Conflict(exhausted)
