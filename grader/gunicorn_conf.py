"""gunicorn settings for `grader serve` (also usable as
`gunicorn -c python:grader.gunicorn_conf 'grader.app:create_app()'`).

gunicorn's own gthread workers: one process per core, a few threads each. A submission
spends part of its time in Python (parsing, scoring: the GIL) and part waiting on the
database; processes give the Python part every core, and threads let a process overlap
the database waits, which sync workers cannot. gthread also keeps clients' connections
alive. Not gevent/eventlet: psycopg and the scoring code are not cooperative. The
measurements behind this choice are in benchmarks/README.md.

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
        "worker_class": "gthread",
        "workers": settings.workers,
        "threads": settings.threads,
        # A request that takes longer is stuck: grading is milliseconds, the database
        # is local.
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        # Recycled only rarely, as a safety net: caches are bounded and memory stays
        # flat, while a restart drops its clients' keep-alive connections. Jittered, so
        # that workers never restart together.
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
