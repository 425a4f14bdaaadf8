"""Periodic work the long-running worker records: the Keycloak organization sync
(``KEYCLOAK_ORG_SYNC_INTERVAL_SECONDS``) and each contract run's outcome sync from edX
(``OPENEDX_OUTCOME_SYNC_INTERVAL_SECONDS``). Each pass records what is due (one transaction), and the
sweeper and the queue run it like any other job. A burst run (``worker --burst``) records nothing."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from portal.core.unit_of_work import transaction
from portal.services.organization_sync import schedule_organization_sync
from portal.services.outcome_sync import schedule_outcome_syncs

log = logging.getLogger(__name__)


def record_due_work() -> list[int]:
    """Record the periodic jobs that are due and commit; returns their ids."""
    with transaction():
        job = schedule_organization_sync()
        syncs = schedule_outcome_syncs()
    ids = [j.id for j in syncs]
    if job is not None:
        log.info("scheduled the Keycloak organization sync (job %s)", job.id)
        ids.insert(0, job.id)
    if syncs:
        log.info("scheduled the outcome sync of %s course runs", len(syncs))
    return ids


def start_scheduler_thread(app: Flask, interval: float, stop: threading.Event) -> threading.Thread:
    """Record due periodic work now and then every ``interval`` seconds until ``stop`` is set."""

    def loop() -> None:
        while True:
            try:
                with app.app_context():
                    record_due_work()
            except Exception:
                log.exception("scheduling periodic jobs failed; trying again in %ss", interval)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name="job-scheduler", daemon=True)
    thread.start()
    return thread
