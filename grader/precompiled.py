"""The submit path's statements, compiled once per database and run on the request's
DBAPI connection.

Every submission runs two statements: the one that authenticates the caller and reads
what is submitted to, and the insert that numbers and stores the attempt. Through
`Connection.execute()` each cost about 150 us of Python here (the compiled-cache
lookup, parameter processing, an execution context, result metadata, row objects),
a fifth of a submission's CPU time (benchmarks/submit_load.py), and as much as the
driver's own work.

A `Precompiled` statement is still written with SQLAlchemy Core, and runs as
SQLAlchemy would run it: the same SQL, its parameters and results through the same
type processors, DBAPI errors wrapped in SQLAlchemy's exceptions (an IntegrityError
is an IntegrityError; a dropped connection is invalidated and reported as such), on
the connection the session uses, inside the transaction that connection is in (one is
begun where none is, as execute() would). What is skipped is per-statement work that
gives the same answer every time.

While anything watches the connection's statements (event listeners such as tracing
or the tests' fault injection, echo logging) or rewrites them (a schema translate map),
the statement runs through `Connection.execute()` instead, so nothing is missed.
A statement whose columns have defaults computed in Python is refused when compiled:
pass those values. tests/grader/test_precompiled.py runs each statement both ways and
compares.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


@dataclass(slots=True)
class _Compiled:
    """A statement as one dialect runs it."""

    sql: str
    positions: tuple[str, ...] | None  # parameter order for a positional paramstyle
    defaults: Mapping[str, Any]  # parameters with values of their own (LIMIT 1, + 1)
    bind_processors: tuple[tuple[str, Processor], ...]
    row_type: Callable[..., Any]
    result_types: tuple[Any, ...]  # each result column's type, processed per dialect
    # Made from the first result's description (the column types the driver reports).
    result_processors: tuple[Processor | None, ...] | None = None

    def parameters(self, given: Mapping[str, Any]) -> Any:
        values = {**self.defaults, **given}
        for name, process in self.bind_processors:
            values[name] = process(values[name])
        if self.positions is None:
            return values
        return tuple(values[name] for name in self.positions)


class Precompiled:
    """A Core statement that returns rows, run with `first()`."""

    __slots__ = ("_by_dialect", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # Per dialect object: its processors carry the engine's own settings (the JSON
        # serializer), so engines never share them.
        self._by_dialect: weakref.WeakKeyDictionary[Dialect, _Compiled] = (
            weakref.WeakKeyDictionary())

    def first(self, connection: Connection, parameters: Mapping[str, Any]) -> Any | None:
        """The first row the statement returns (attributes named as the statement's
        columns), or None."""
        if _observed(connection):
            return connection.execute(self.statement, parameters).first()
        dialect = connection.dialect
        compiled = self._by_dialect.get(dialect)
        if compiled is None:
            compiled = self._by_dialect[dialect] = _compile(self.statement, dialect)
        try:
            values = compiled.parameters(parameters)
        except (KeyError, TypeError, ValueError) as error:
            # As SQLAlchemy reports a missing value or one its type refuses.
            raise StatementError(f"({type(error).__name__}) {error}", compiled.sql,
                                 parameters, error) from error
        if not connection.in_transaction():
            connection.begin()  # as execute() would: the caller's commit() then counts
        pooled = connection.connection
        dbapi_connection = pooled.dbapi_connection
        cursor = None
        try:
            cursor = _cursor(pooled, dbapi_connection)
            cursor.execute(compiled.sql, values)
            row = cursor.fetchone()
            if row is not None and compiled.result_processors is None:
                compiled.result_processors = _result_processors(compiled, dialect,
                                                                cursor.description)
            # To the end, as closing the cursor did: a driver may hold a statement open
            # until it has handed out every row.
            cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            raise _wrapped(error, connection, dbapi_connection, cursor, compiled.sql,
                           values) from error
        if row is None:
            return None
        processors = compiled.result_processors
        assert processors is not None
        return compiled.row_type(*[value if process is None or value is None else
                                   process(value) for process, value in zip(processors, row,
                                                                            strict=True)])


_CURSOR = "grader.precompiled.cursor"


def _cursor(pooled: Any, dbapi_connection: Any) -> Any:
    """The cursor precompiled statements use on this DBAPI connection. Kept with the
    pooled connection, whose `info` is emptied when it reconnects: a new psycopg cursor
    per statement cost 70,000 of a submission's 2.5 million instructions."""
    cursor = pooled.info.get(_CURSOR)
    if cursor is None or cursor.connection is not dbapi_connection:
        cursor = pooled.info[_CURSOR] = dbapi_connection.cursor()
    return cursor


def _observed(connection: Connection) -> bool:
    """Whether anything watches this connection's statements (event listeners, echo
    logging) or rewrites them (schema translation): then SQLAlchemy runs them."""
    dispatch = connection.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute
                or dispatch.before_execute or dispatch.after_execute
                or connection.dialect.dispatch.handle_error
                or connection.engine.echo
                or "schema_translate_map" in connection.get_execution_options())


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect,  # type: ignore[attr-defined]
                                 compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    if compiled.escaped_bind_names:
        raise ValueError("precompiled statements use plain parameter names")
    if compiled.insert_prefetch or compiled.update_prefetch:
        # Column defaults computed in Python at execution: give those values instead.
        raise ValueError("precompiled statements take every value as a parameter")
    defaults: dict[str, Any] = {}
    processors: dict[str, Processor] = {}
    for bind, name in compiled.bind_names.items():
        if not bind.required:
            defaults[name] = bind.effective_value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    columns = statement.exported_columns  # type: ignore[attr-defined]
    return _Compiled(
        sql=compiled.string,
        positions=tuple(compiled.positiontup or ()) if compiled.positional else None,
        defaults=defaults,
        bind_processors=tuple(processors.items()),
        row_type=namedtuple("Row", list(columns.keys())),  # type: ignore[misc]
        result_types=tuple(column.type for column in columns),
    )


def _result_processors(compiled: _Compiled, dialect: Dialect,
                       description: Any) -> tuple[Processor | None, ...]:
    return tuple(column_type.dialect_impl(dialect).result_processor(dialect, described[1])
                 for column_type, described in zip(compiled.result_types, description,
                                                   strict=True))


def _wrapped(error: Exception, connection: Connection, dbapi_connection: Any, cursor: Any,
             sql: str, parameters: Any) -> BaseException:
    """`error` as SQLAlchemy reports it, the connection invalidated when it broke."""
    dialect = connection.dialect
    disconnected = dialect.is_disconnect(error, dbapi_connection, cursor)
    if disconnected:
        # As SQLAlchemy does on a disconnect: the pool's other idle connections died
        # with this one, so the pool replaces them too.
        connection.engine.pool._invalidate(connection.connection, error)
        connection.invalidate(error)
    return DBAPIError.instance(sql, parameters, error, dialect.loaded_dbapi.Error,
                               hide_parameters=connection.engine.hide_parameters,
                               connection_invalidated=disconnected, dialect=dialect)
