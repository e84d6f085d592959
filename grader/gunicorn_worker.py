"""gunicorn's gthread worker, taking a new connection only while one of its threads is
free.

gthread accepts every connection it sees, however busy its threads are (gunicorn
issue #3433). Its workers share one listening socket, and keep-alive clients stay with
the worker that accepted them: when 32 clients connect at once, one worker can end up
with three times the other's, and its clients wait three times as long while the other
worker's threads idle. This worker stops listening while all its threads are handling
requests and listens again when one finishes, so a new connection goes to a worker
that can serve it now. Connections it already holds are served as before.
"""

from __future__ import annotations

import selectors
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

# A worker whose threads stay busy listens again when a request finishes this long after
# it stopped: were it to wait for a free thread, a new client could wait as long as the
# keep-alive clients keep every thread busy.
BUSY_ACCEPT_INTERVAL_S = 0.01


class BalancedThreadWorker(ThreadWorker):
    def init_process(self) -> None:
        self._in_flight = 0  # requests handed to the thread pool and not finished
        self._paused: dict[Any, Any] = {}  # listener -> its accept callback, while busy
        self._paused_at = 0.0
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        with self._lock:
            self._in_flight += 1
            if self._in_flight >= self.cfg.threads:
                self._stop_listening()
        super().enqueue_req(conn)

    def finish_request(self, fs: Any) -> None:
        super().finish_request(fs)
        with self._lock:
            self._in_flight -= 1
            if self._paused and self.alive and (
                    self._in_flight < self.cfg.threads
                    or time.monotonic() - self._paused_at >= BUSY_ACCEPT_INTERVAL_S):
                self._listen_again()

    # Both under self._lock, which guards the poller in gthread.
    def _stop_listening(self) -> None:
        if self._paused:  # already stopped: the pause counts from when it began
            return
        for listener in self.sockets:
            try:
                key = self.poller.unregister(listener)
            except (KeyError, ValueError):  # not registered yet (run() not started)
                continue
            self._paused[listener] = key.data
        self._paused_at = time.monotonic()

    def _listen_again(self) -> None:
        for listener, accept in list(self._paused.items()):
            del self._paused[listener]
            try:
                self.poller.register(listener, selectors.EVENT_READ, accept)
            except (ValueError, OSError, AttributeError, KeyError):
                # The worker is exiting (its parent died): the poller and the listening
                # sockets are closed under the requests still finishing.
                return
