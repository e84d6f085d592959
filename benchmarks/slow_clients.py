"""Slow clients against `grader serve`, with and without nginx in front.

    .venv/bin/python benchmarks/slow_clients.py [--slow 200] [--submissions 200]
        [--seconds 10] [--workers 2] [--threads 4]

Serves the bundled exercises with `grader serve` on a fresh SQLite database (loopback,
a free port), then, for each setup (gunicorn alone; nginx with the project's
configuration, deploy/nginx/grader.conf.template, in front of it), opens `--slow`
connections that stall partway through a request (half in their headers, half in
their body, no token) and, while they hang, one student submits practice attempts on
a keep-alive connection. Prints the p50/p99/max latency of those submissions and how
many got no answer within 2 s. nginx must be installed (apt-get install nginx).

Traffic goes to 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The helpers the proxy test uses start the servers and the clients.
sys.path.insert(0, str(REPO / "tests" / "grader"))

from local_servers import add_student, grader_serve, nginx_binary, nginx_proxy  # noqa: E402
from slow_clients import slow_connections, timed_submissions  # noqa: E402

MAX_BODY_BYTES = 1_048_576


def report(label: str, slow: int, timings) -> None:
    answered = len(timings.seconds)
    print(f"{label:<22} slow={slow:<4} answered={answered:<4} "
          f"no answer in 2 s={len(timings.failures):<4} "
          f"p50={timings.percentile(0.50) * 1000:8.1f} ms  "
          f"p99={timings.percentile(0.99) * 1000:8.1f} ms  "
          f"max={max(timings.seconds, default=float('inf')) * 1000:8.1f} ms  "
          f"statuses={timings.statuses}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    options = parser.parse_args()
    if nginx_binary() is None:
        print("nginx is not installed (apt-get install nginx)", file=sys.stderr)
        return 1
    folder = tempfile.TemporaryDirectory(prefix="grader-slow-")
    url = f"sqlite:///{folder.name}/grader.sqlite3"
    budget = {"count": options.submissions, "seconds": options.seconds}
    with folder, grader_serve(url, workers=options.workers, threads=options.threads,
                              GRADER_MAX_BODY_BYTES=str(MAX_BODY_BYTES)) as port:
        token = add_student(url, "slow-bench")
        with nginx_proxy(port, MAX_BODY_BYTES) as proxy_port:
            for label, target in (("gunicorn alone", port), ("nginx + gunicorn", proxy_port)):
                report(label, 0, timed_submissions(target, token, **budget))
                with slow_connections(target, options.slow):
                    report(label, options.slow, timed_submissions(target, token, **budget))
    return 0


if __name__ == "__main__":
    sys.exit(main())
