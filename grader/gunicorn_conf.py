"""gunicorn settings for `grader serve` (also usable as
`gunicorn -c python:grader.gunicorn_conf 'grader.app:create_app()'`).

Worker model: gthread, several processes with a few threads each, through
`grader.gunicorn_worker.BalancedThreadWorker` (gthread that takes a new connection only
while one of its threads is free, so keep-alive clients spread over the workers).
- A submission spends part of its time in Python (parsing, scoring: the GIL) and part
  waiting on the database (one statement reads the token and what is submitted to,
  one inserts the numbered attempt). Processes
  give the Python part every core; threads let one process overlap the database waits,
  which sync workers cannot (a sync worker idles during each round trip).
- Measured on the submit path (benchmarks/submit_load.py: PostgreSQL on the same
  2-core machine, 32 keep-alive clients, 30-blank exercise, one submission in four with
  a slip; a shared machine, so +-10% between runs), 15 s per server:
      gthread  2 workers x 4 threads   1114-1294 req/s   p99 46-67 ms
      gthread  4 x 1                   1197 req/s        p99 75 ms
      gthread  2 x 8                   1033 req/s        p99 76 ms
      sync     2 workers               1146 req/s        p99 38 ms
      sync     4 workers               1130 req/s        p99 38 ms
  Within the noise of each other: the machine's two cores are the limit (workers,
  PostgreSQL and the load generator share them). gthread keeps the clients' connections
  alive, which sync workers cannot, and one process per core with a few threads covers
  the database waits without more processes than cores. On a slower machine of the
  same kind (about 600 submissions/s), sync workers fell further behind (3 workers:
  p99 153 ms, 4: 212 ms, against gthread's 100-120 ms): a request waits in the
  listen queue while every sync worker is busy.
- Plain gthread accepts every connection whatever its threads are doing: with 32
  clients connecting at once, the two workers held 13 and 28, then 14 and 27 sockets
  (their database connections included), and the larger share's clients waited about
  three times as long. Balanced: 22 and 19, then 21 and 20; submit p99 102-105 ms
  against gthread's 120-121 ms in alternating runs on the slower machine. Full runs of
  submit_load.py with the submit path as it is now: balanced 55-57% of the ceiling,
  p99 64-67 ms (four runs); gthread 51%, p99 91 ms (between them).
- Not gevent/eventlet: psycopg and the scoring code are not cooperative, and would
  need monkey-patching; the gain over threads is small at these concurrencies.

Each worker builds its own app and connection pools after the fork (no preload_app):
a pool created before fork would share sockets between processes. Every database
connection a worker may need (one per thread) fits in each pool: the settings refuse
more threads than GRADER_DB_POOL_SIZE plus its overflow.

The values come from the service's typed settings (grader.config.Settings:
GRADER_BIND, GRADER_WORKERS, GRADER_THREADS, GRADER_ACCESS_LOG, GRADER_LOG_LEVEL), so a
bad one is refused with one line naming it, here and in every `grader` command.
"""

from __future__ import annotations

from typing import Any

from grader.config import Settings, load_settings


def options(settings: Settings) -> dict[str, Any]:
    """gunicorn's settings for the service."""
    return {
        "bind": settings.bind,
        "worker_class": "grader.gunicorn_worker.BalancedThreadWorker",
        "workers": settings.workers,
        "threads": settings.threads,
        # A request that takes longer is stuck: grading is milliseconds, the database
        # is local.
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        # Workers are recycled only rarely, as a safety net: their caches are bounded
        # and their memory stays flat (benchmarks/submit_load.py prints it), while a
        # restart drops its clients' keep-alive connections and cold-starts its caches.
        # Jittered, so that workers never restart together.
        "max_requests": 1_000_000,
        "max_requests_jitter": 50_000,
        # Request line and headers stay small; bodies are limited by the app (413).
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "preload_app": False,
        "accesslog": settings.access_log or None,
        "errorlog": "-",
        "loglevel": settings.log_level,
    }


# gunicorn reads a config module's top-level names. A bad setting raises ConfigError
# here, which gunicorn reports as one "Error: ..." line.
globals().update(options(load_settings()))
