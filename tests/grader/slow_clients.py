"""Slow clients and a client timing its submissions, for the proxy test and
benchmarks/slow_clients.py.

A slow client opens a connection and sends part of a request, then nothing: headers
without their blank line, or a body shorter than its Content-Length, with no token.
The timed client submits practice attempts one after another on one keep-alive
connection and records how long each took.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

SUBMIT = "/api/v1/exercises/branching/attempts"
ANSWERS = json.dumps({"forward": {"a": -6.0, "b": 1.0}}).encode()
CONNECT_SECONDS = 5


@contextlib.contextmanager
def slow_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections to 127.0.0.1:port, each stalled partway through a request
    (half in their headers, half in their body), held open until the block ends."""
    opened: list[socket.socket] = []
    try:
        for number in range(count):
            sock = socket.create_connection(("127.0.0.1", port), CONNECT_SECONDS)
            opened.append(sock)
            if number % 2 == 0:
                sock.sendall(f"POST {SUBMIT} HTTP/1.1\r\nHost: grader\r\n".encode())
            else:
                sock.sendall(f"POST {SUBMIT} HTTP/1.1\r\nHost: grader\r\n"
                             "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                             '{"forward": '.encode())
        yield opened
    finally:
        for sock in opened:
            sock.close()


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)  # of the answered requests
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # timeouts, resets

    def percentile(self, share: float) -> float:
        return percentile(self.seconds, share)


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share 0.99 for p99); infinity for no values."""
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def timed_submissions(port: int, token: str, *, count: int, seconds: float,
                      timeout: float = 2.0) -> Timings:
    """Up to `count` submissions within `seconds`, each timed; a request that takes
    longer than `timeout` counts as a failure (and a fresh connection is opened)."""
    timings = Timings()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    deadline = time.monotonic() + seconds
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        for _number in range(count):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            try:
                connection.request("POST", SUBMIT, body=ANSWERS, headers=headers)
                response = connection.getresponse()
                response.read()
            except OSError as exc:
                timings.failures.append(f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                continue
            timings.seconds.append(time.perf_counter() - started)
            timings.statuses[response.status] = timings.statuses.get(response.status, 0) + 1
    finally:
        connection.close()
    return timings
