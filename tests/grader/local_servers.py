"""Servers the tests start on loopback for themselves: a PostgreSQL instance of their
own (initdb into a temporary folder, pg_ctl to stop and start it) and nginx with the
project's configuration. Each is found where Debian installs it, or the test is skipped
with one line naming what to install."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_SECONDS = 30


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
