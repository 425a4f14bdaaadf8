"""The RQ worker: jobs run inside the portal's app context.

Use ``flask --app portal worker`` (runs the sweeper too), or plain RQ with
``rq worker --url $REDIS_URL -w portal.jobs.worker.PortalWorker portal``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from flask import Flask
from rq import SimpleWorker

log = logging.getLogger(__name__)
_app: Flask | None = None
_lock = threading.Lock()


def worker_app() -> Flask:
    """The app jobs run in, made on first use (never at import time)."""
    global _app
    with _lock:
        if _app is None:
            from portal import create_app

            _app = create_app()
        return _app


class PortalWorker(SimpleWorker):
    """Runs each job in the worker process (no fork: database connections are never shared by a
    forked child) with an app context pushed."""

    def __init__(self, *args: Any, app: Flask | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.portal_app = app

    def perform_job(self, job: Any, queue: Any) -> bool:
        with (self.portal_app or worker_app()).app_context():
            return bool(super().perform_job(job, queue))


def start_sweeper_thread(app: Flask, interval: float, stop: threading.Event) -> threading.Thread:
    """Run the sweeper every ``interval`` seconds until ``stop`` is set."""
    from portal.jobs.sweeper import sweep

    def loop() -> None:
        while not stop.wait(interval):
            try:
                with app.app_context():
                    sent = sweep()
                if sent:
                    log.info("sweeper sent %d job(s)", len(sent))
            except Exception:
                log.exception("sweeper pass failed; trying again in %ss", interval)

    thread = threading.Thread(target=loop, name="job-sweeper", daemon=True)
    thread.start()
    return thread


def exit_with_parent_after_fork() -> None:
    """Make processes forked from here on (RQ's scheduler) exit when this process dies."""

    def watch_parent() -> None:
        parent = os.getppid()

        def loop() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(0)

        threading.Thread(target=loop, name="exit-with-parent", daemon=True).start()

    os.register_at_fork(after_in_child=watch_parent)
