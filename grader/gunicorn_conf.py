"""gunicorn settings for `grader serve` (also usable as
`gunicorn -c python:grader.gunicorn_conf 'grader.app:create_app()'`).

Worker model: gthread, several processes with a few threads each.
- A submission spends part of its time in Python (parsing, scoring: the GIL) and part
  waiting on the database (token lookup, variant, numbered insert, commit). Processes
  give the Python part every core; threads let one process overlap the database waits,
  which sync workers cannot (a sync worker idles during each round trip).
- Measured on the submit path (benchmarks/submit_load.py: PostgreSQL on the same
  2-core machine, 32 keep-alive clients, 30-blank exercise, while other jobs loaded
  the machine, so +-20% between runs):
      sync     2 workers               449-587 req/s   p99 135-149 ms
      gthread  2 workers x 4 threads   456-667 req/s   p99 117-155 ms
      gthread  2 x 8                   578 req/s       p99 129 ms
      gthread  3 x 4 / 4 x 2           444 / 449 req/s p99 211 / 161 ms
  (side by side in the quietest runs: sync 587 req/s, gthread 667 req/s.)
  gthread at one process per core is the best or equal everywhere; more processes
  than cores only add context switches, and more threads add little once the
  database waits are covered.
- Not gevent/eventlet: psycopg and the scoring code are not cooperative, and would
  need monkey-patching; the gain over threads is small at these concurrencies.

Each worker builds its own app and connection pool after the fork (no preload_app):
a pool created before fork would share sockets between processes. Every database
connection a worker may need (one per thread) fits in its pool: the settings refuse
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
        "worker_class": "gthread",
        "workers": settings.workers,
        "threads": settings.threads,
        # A request that takes longer is stuck: grading is milliseconds, the database
        # is local.
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        # Workers are not recycled: their caches are bounded and their memory stays
        # flat (benchmarks/submit_load.py prints it), while a restart would drop its
        # clients' keep-alive connections and cold-start its caches.
        "max_requests": 0,
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
