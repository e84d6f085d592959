"""The service's gunicorn worker: a new connection goes to a worker with a free thread,
and a busy worker still takes new connections. Real gunicorn processes on loopback."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# /slow holds its thread; /pid answers at once. Both say which worker answered.
APP = '''
import os, time

def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        with open(os.environ["SLOW_STARTED"], "a") as started:
            started.write("x")
        time.sleep(float(environ.get("QUERY_STRING") or 2))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(tmp_path: Path, workers: int, threads: int) -> Iterator[int]:
    (tmp_path / "tiny_app.py").write_text(APP)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--worker-class",
         "grader.gunicorn_worker.BalancedThreadWorker", "--workers", str(workers),
         "--threads", str(threads), "--keep-alive", "5", "--bind", f"127.0.0.1:{port}",
         "--chdir", str(tmp_path), "--log-level", "warning", "tiny_app:app"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                       "SLOW_STARTED": str(tmp_path / "slow_started")})
    try:
        pids = set()
        deadline = time.monotonic() + 30
        # Ready when every worker has answered (each takes connections of its own).
        while len(pids) < workers and time.monotonic() < deadline:
            assert process.poll() is None, "gunicorn exited"
            with contextlib.suppress(OSError):
                pids.add(get(port, "/pid")[0])
            time.sleep(0.05)
        assert len(pids) == workers, "workers did not start"
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def get(port: int, path: str, connection: http.client.HTTPConnection | None = None
        ) -> tuple[int, float]:
    """(pid of the worker that answered, seconds taken)."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    started = time.monotonic()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        pid = int(response.read())
    finally:
        if own:
            connection.close()
    return pid, time.monotonic() - started


def test_a_worker_with_every_thread_busy_leaves_new_connections_to_a_free_one(tmp_path):
    with serving(tmp_path, workers=2, threads=1) as port:
        slow: list[int] = []
        holder = threading.Thread(target=lambda: slow.append(get(port, "/slow?3")[0]))
        holder.start()
        started = tmp_path / "slow_started"
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists(), "the slow request never started"
        # Its worker stopped listening before handing it to the thread.
        quick = [get(port, "/pid") for _ in range(12)]
        holder.join()
    busy = slow[0]
    # gunicorn's own gthread worker accepts whatever it is doing: about half of these
    # would wait out the slow request.
    assert all(pid != busy for pid, _ in quick)
    assert max(seconds for _, seconds in quick) < 1.5


def test_a_busy_worker_still_takes_new_connections(tmp_path):
    """One worker, one thread, kept busy by two keep-alive clients: a third client is
    served within a moment, not when the others stop."""
    with serving(tmp_path, workers=1, threads=1) as port:
        stop = time.monotonic() + 3

        def hammer() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            while time.monotonic() < stop:
                get(port, "/slow?0.02", connection)
            connection.close()

        clients = [threading.Thread(target=hammer) for _ in range(2)]
        for client in clients:
            client.start()
        time.sleep(0.5)
        _, seconds = get(port, "/pid")
        finished_at = time.monotonic()
        for client in clients:
            client.join()
    assert seconds < 1.0
    assert finished_at < stop  # served while the others were still at it


@pytest.mark.parametrize("clients", [16])
def test_keep_alive_clients_spread_over_the_workers(tmp_path, clients):
    """Clients that connect at once and stay connected are served by both workers in
    comparable shares."""
    with serving(tmp_path, workers=2, threads=2) as port:
        barrier = threading.Barrier(clients)
        pids: list[int] = []
        lock = threading.Lock()

        def client() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            barrier.wait()
            for _ in range(5):
                pid, _ = get(port, "/slow?0.05", connection)
                with lock:
                    pids.append(pid)
            connection.close()

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    shares = sorted(pids.count(pid) for pid in set(pids))
    assert len(shares) == 2
    assert shares[0] >= 0.3 * len(pids)
