"""Servers the tests start on loopback for themselves: a PostgreSQL instance of their
own (initdb into a temporary folder, pg_ctl to stop and start it) and nginx with the
project's configuration. Each is found where Debian installs it, or the test is skipped
with one line naming what to install."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

START_SECONDS = 30
# Load tests submit far faster than people: limits they never reach, unless they set
# their own.
GENEROUS_RATE_LIMITS = {f"GRADER_RATE_LIMIT_{kind}": "1000000/minute"
                        for kind in ("SUBMIT_USER", "SUBMIT_IP", "SIGN_IN_USER", "SIGN_IN_IP")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float = START_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


# ---------------------------------------------------------------- PostgreSQL


def postgres_binaries() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else Debian's newest version."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PostgresInstance:
    """A PostgreSQL server of a test's own on 127.0.0.1, in a temporary folder.

    initdb refuses to run as root; as root, the commands run as the `postgres` user
    (runuser), which owns the folder.
    """

    def __init__(self, folder: Path) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            pytest.skip("PostgreSQL's initdb and pg_ctl are not installed "
                        "(apt-get install postgresql)")
        self.binaries = binaries
        self.run_as: list[str] = []
        self.owner: int | None = None
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                postgres = pwd.getpwnam("postgres")
            except KeyError:
                postgres = None
            if runuser is None or postgres is None:
                pytest.skip("running as root without a `postgres` user and runuser to run "
                            "initdb as (apt-get install postgresql)")
            self.run_as = [runuser, "-u", "postgres", "--"]
            self.owner = postgres.pw_uid
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.log = folder / "postgres.log"

    def _run(self, *command: str, timeout: float = 60) -> None:
        done = subprocess.run([*self.run_as, *command], capture_output=True, text=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"{command[0]} failed: {done.stderr}{done.stdout}\n{log}")

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.owner is not None:
            os.chown(self.folder, self.owner, -1)
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")

    def start(self) -> None:
        # Its own port and socket folder, loopback only; durability is not under test.
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", str(START_SECONDS), "start")

    def stop(self) -> None:
        # fast: open sessions are ended at once, as a crash or a restart would.
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                  "stop")

    def stop_if_running(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                self.stop()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@contextlib.contextmanager
def postgres_instance() -> Iterator[PostgresInstance]:
    """A started instance, stopped and removed afterwards. Its folder is made directly
    in the system's temporary folder: pytest's own is private to the user running the
    tests, where the `postgres` user could not reach it."""
    folder = Path(tempfile.mkdtemp(prefix="grader-postgres-"))
    try:
        instance = PostgresInstance(folder)
        try:
            instance.init()
            instance.start()
            yield instance
        finally:
            instance.stop_if_running()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- nginx

REPO = Path(__file__).resolve().parents[2]
NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "grader.conf.template"
NGINX_PROBLEMS = REPO / "deploy" / "nginx" / "problems"
NGINX_INSTALL_HINT = "nginx is not installed (apt-get install nginx): the proxy tests skip"
_TEMPLATE_VARIABLE = re.compile(r"\$\{([A-Z_]+)\}")

# The rest of a configuration that nginx needs around the project's server block:
# everything in the test's own folder, nothing of the system's nginx.
_MAIN_CONFIGURATION = """\
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/grader.conf;
}}
"""


def nginx_binary() -> str | None:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if os.access(found, os.X_OK) else None


def require_nginx() -> str:
    """nginx's path, or the test is skipped."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NGINX_INSTALL_HINT)
    return binary


def render_template(text: str, values: dict[str, str]) -> str:
    """`${NAME}` replaced as envsubst does; nginx's own `$name` variables are left."""
    return _TEMPLATE_VARIABLE.sub(lambda found: values[found[1]], text)


def with_replicas(configuration: str, first: str, replicas: Sequence[str]) -> str:
    """The rendered configuration with a `server` line in its upstream block for each
    replica after the first, as a name resolving to every replica gives nginx."""
    line = f"    server {first};\n"
    assert line in configuration, "the upstream block has no server line"
    return configuration.replace(line, "".join(f"    server {address};\n"
                                               for address in (first, *replicas)))


@contextlib.contextmanager
def nginx_proxy(upstream_port: int, max_body_bytes: int,
                replica_ports: Sequence[int] = ()) -> Iterator[int]:
    """nginx with the project's configuration in front of 127.0.0.1:upstream_port (and
    of each replica's port, taking turns), on a free loopback port of its own
    (yielded)."""
    binary = require_nginx()
    # Readable by the unprivileged user nginx's worker runs as when started by root.
    folder = Path(tempfile.mkdtemp(prefix="grader-nginx-"))
    folder.chmod(0o755)
    port = free_port()
    try:
        shutil.copytree(NGINX_PROBLEMS, folder / "problems")
        first = f"127.0.0.1:{upstream_port}"
        configuration = render_template(NGINX_TEMPLATE.read_text(), {
            "GRADER_UPSTREAM": first,
            "GRADER_LISTEN": f"127.0.0.1:{port}",
            "GRADER_MAX_BODY_BYTES": str(max_body_bytes),
            "GRADER_PROBLEMS_DIR": str(folder / "problems"),
        })
        (folder / "grader.conf").write_text(with_replicas(
            configuration, first, [f"127.0.0.1:{p}" for p in replica_ports]))
        (folder / "nginx.conf").write_text(_MAIN_CONFIGURATION.format(folder=folder))
        # Its messages go to error.log (-e): read when it fails to start.
        server = subprocess.Popen([binary, "-p", str(folder), "-c", str(folder / "nginx.conf"),
                                   "-e", str(folder / "error.log")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            try:
                wait_for_port(port, 10)
            except AssertionError:
                server.kill()
                log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
                raise AssertionError(f"nginx did not start: {log}") from None
            yield port
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- grader serve


def grader_executable() -> list[str]:
    """The `grader` command of this environment."""
    found = shutil.which("grader", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "grader.service_cli"]


@contextlib.contextmanager
def grader_serve(database_url: str, *, workers: int, threads: int,
                 **settings: str) -> Iterator[int]:
    """`grader serve` on a free loopback port (yielded), until the block ends."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "s" * 48,
           "GRADER_ACCESS_LOG": "", "GRADER_LOG_LEVEL": "warning", **GENEROUS_RATE_LIMITS,
           **settings}
    folder = Path(tempfile.mkdtemp(prefix="grader-serve-"))
    server = subprocess.Popen(
        [*grader_executable(), "serve", "--port", str(port), "--workers", str(workers),
         "--threads", str(threads)],
        env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        try:
            wait_for_port(port)
        except AssertionError:
            server.kill()
            output = server.communicate()[0]
            raise AssertionError(f"grader serve did not start: {output}") from None
        yield port
    finally:
        server.terminate()
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
        shutil.rmtree(folder, ignore_errors=True)


def add_student(database_url: str, username: str) -> str:
    """A student of the served database, and a token of theirs."""
    return add_user(database_url, username, "student")


def add_user(database_url: str, username: str, role: str) -> str:
    """A user of the served database, and a token of theirs."""
    from sqlalchemy.orm import sessionmaker

    from grader import db
    from grader.config import load_settings
    from grader.models import Role
    from grader.services import accounts

    engine = db.make_engine(database_url, load_settings(database_url=database_url))
    try:
        with sessionmaker(engine, expire_on_commit=False)() as session:
            accounts.create_user(session, username, Role(role))
            return accounts.create_token(session, username)
    finally:
        engine.dispose()
