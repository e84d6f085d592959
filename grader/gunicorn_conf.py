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
connection a worker may need (one per thread) fits in its pool (GRADER_DB_POOL_SIZE,
default 5 >= threads).
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GRADER_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GRADER_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("GRADER_THREADS", 4))
# A request that takes longer is stuck: grading is milliseconds, the database is local.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, jittered so they never restart together.
max_requests = 20_000
max_requests_jitter = 2_000
# Request line and headers stay small; bodies are limited by the app (413).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
preload_app = False
accesslog = os.environ.get("GRADER_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GRADER_LOG_LEVEL", "info")
