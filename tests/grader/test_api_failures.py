"""The database going away: 503 with Retry-After, and recovery without a restart."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from grader import sessions
from grader.models import Attempt
from grader.services import exercises


@contextlib.contextmanager
def database_fails(app):
    """Every statement fails as if the server had closed the connection."""
    def fail(*args, **kwargs):
        raise OperationalError("SELECT", {}, ConnectionError("server closed the connection"))

    for engine in sessions.engines(app):
        event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        for engine in sessions.engines(app):
            event.remove(engine, "before_cursor_execute", fail)


def test_statement_failure_is_503_then_recovers(app, student, load_bundled):
    load_bundled("branching")
    with database_fails(app):
        response = student.get("/api/v1/exercises")
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert int(response.headers["Retry-After"]) > 0
        assert "Traceback" not in response.text
        submit = student.post("/api/v1/exercises/branching/attempts", json={"forward": {}})
        assert submit.status_code == 503
        assert client_ready(app) == 503
    assert student.get("/api/v1/exercises").status_code == 200
    assert client_ready(app) == 200


def client_ready(app) -> int:
    return app.test_client().get("/readyz").status_code


class TcpProxy:
    """A loopback TCP proxy to the database that can be cut and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and break every open one."""
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


def test_postgres_outage_is_503_and_service_recovers(
    is_postgres, database_url, make_app, users_of, bundled
):
    if not is_postgres:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False)
        app = make_app(proxied, db_connect_timeout=2, retry_after_seconds=3)
        client = app.test_client()
        student = users_of(app).add("pat")
        with app.app_context():
            exercise = exercises.parse_exercise_text(bundled("branching"), max_bytes=None)
            exercises.store_exercise(sessions.get_session(), exercise, owner=None)
        acknowledged = student.post("/api/v1/exercises/branching/attempts",
                                    json={"forward": {}})
        assert acknowledged.status_code == 201

        proxy.stop()
        down = student.post("/api/v1/exercises/branching/attempts", json={"forward": {}})
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "3"
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200  # the process itself is fine

        proxy.start()  # same port: the app's URL is unchanged
        assert client.get("/readyz").status_code == 200
        listed = student.get("/api/v1/exercises/branching/attempts")
        assert listed.status_code == 200
        assert [a["id"] for a in listed.json] == [acknowledged.json["id"]]
        with app.app_context():
            stored = sessions.get_session().execute(select(func.count(Attempt.id))).scalar_one()
        assert stored == 1
    finally:
        proxy.stop()


def test_connections_that_died_while_idle_are_replaced(is_postgres, database_url, make_app,
                                                       users_of, bundled):
    """A database restart kills the pool's idle connections: the next requests run on
    fresh ones and succeed (no pre-ping round trip on every checkout)."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    app = make_app()
    backends: list[int] = []
    for engine in sessions.engines(app):
        event.listen(engine, "connect",
                     lambda connection, record: backends.append(connection.info.backend_pid))
    student = users_of(app).add("pat")
    with app.app_context():
        exercise = exercises.parse_exercise_text(bundled("branching"), max_bytes=None)
        exercises.store_exercise(sessions.get_session(), exercise, owner=None)
    client = app.test_client()
    for _ in range(2):
        assert student.get("/api/v1/exercises").status_code == 200
        assert client.get("/readyz").status_code == 200
        killer = create_engine(database_url, poolclass=NullPool)
        with killer.begin() as connection:
            for pid in backends:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        killer.dispose()
        assert student.get("/api/v1/exercises").status_code == 200
        assert client.get("/readyz").status_code == 200
        submitted = student.post("/api/v1/exercises/branching/attempts", json={"forward": {}})
        assert submitted.status_code == 201


@contextlib.contextmanager
def pooled_connections_die_while_idle(app):
    """Every connection the app's engines take back is closed underneath while it
    waits in the pool, as when the server drops idle connections (a restart)."""

    def close(dbapi_connection, record):
        dbapi_connection.close()

    pools = list({id(engine.pool): engine.pool for engine in sessions.engines(app)}.values())
    for pool in pools:
        event.listen(pool, "checkin", close)
    try:
        yield
    finally:
        for pool in pools:
            event.remove(pool, "checkin", close)


@contextlib.contextmanager
def connections_fail(app):
    """Every connection the app's engines hand out is closed underneath as soon as it
    is handed out: no statement can run."""

    def close(connection):
        connection.connection.dbapi_connection.close()

    engines = sessions.engines(app)
    for engine in engines:
        event.listen(engine, "engine_connect", close)
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine, "engine_connect", close)


def test_a_dead_pooled_connection_under_the_submit_path_is_replaced(app, student,
                                                                     load_bundled):
    load_bundled("branching")
    with pooled_connections_die_while_idle(app):
        assert student.get("/api/v1/exercises/branching").status_code == 200
        submitted = student.post("/api/v1/exercises/branching/attempts",
                                 json={"forward": {}})
        assert submitted.status_code == 201
        listed = student.get("/api/v1/exercises/branching/attempts")
    assert [a["id"] for a in listed.json] == [submitted.json["id"]]


def test_the_submit_path_answers_503_while_no_connection_works(app, student, load_bundled):
    load_bundled("branching")
    with connections_fail(app):
        down = student.post("/api/v1/exercises/branching/attempts", json={"forward": {}})
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) > 0
        assert "Traceback" not in down.text
    up = student.post("/api/v1/exercises/branching/attempts", json={"forward": {}})
    assert up.status_code == 201
    with app.app_context():
        stored = sessions.get_session().execute(select(func.count(Attempt.id))).scalar_one()
    assert stored == 1
