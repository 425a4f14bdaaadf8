"""The jobs list as people read it: each job's object named (``object_names``, one SELECT per object
type on the page) and its state in words ("Failed after 5 attempts", "Waiting to retry (attempt 2
of 5) at 10:32"), not "failed attempt 5/5".

``static/js/job-status.js`` writes the same words when a row changes while the page is open: keep
the two in step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from portal.models import BackgroundJob, JobState, utcnow
from portal.services.object_names import NamedObject, ObjectNames

FINAL = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobRow:
    job: BackgroundJob
    object: NamedObject | None
    words: str  # the state as a sentence
    detail: str  # the error that goes with it ("" when none)
    step: str  # what a job that is not finished is doing ("" once it is)


def present_jobs(jobs: Iterable[BackgroundJob], now: dt.datetime | None = None) -> list[JobRow]:
    jobs = list(jobs)
    names = ObjectNames()
    for job in jobs:
        if job.object_type:
            names.want(job.object_type, job.object_id)
    names.load()
    now = now or utcnow()
    return [
        JobRow(
            job=job,
            object=names.name(job.object_type, job.object_id) if job.object_type else None,
            words=state_words(job, now),
            detail=state_detail(job),
            step="" if job.state in FINAL else job.step,
        )
        for job in jobs
    ]


def _times(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def at(moment: dt.datetime, now: dt.datetime) -> str:
    """ "at 10:32" today, "on 31 Jan at 10:32" another day (UTC, as the page's times are)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    if moment.date() == now.astimezone(dt.UTC).date():
        return f"at {moment:%H:%M}"
    return f"on {moment:%d %b} at {moment:%H:%M}"


def state_words(job: BackgroundJob, now: dt.datetime) -> str:
    """The job's state as a sentence (ending with ":" when its error follows, see ``state_detail``)."""
    state, done, most = job.state, job.attempts or 0, job.max_attempts
    due_later = job.run_after is not None and job.run_after > now
    when = f" {at(job.run_after, now)}" if due_later else ""
    if state is JobState.PENDING:
        if done == 0:
            return f"Waiting to start{when}"
        return f"Waiting to retry (attempt {done + 1} of {most}){when}"
    if state is JobState.QUEUED:
        return "Queued for a worker" if done == 0 else f"Queued for attempt {done + 1} of {most}"
    if state is JobState.RUNNING:
        return "Running" if done <= 1 else f"Running attempt {done} of {most}"
    if state is JobState.SUCCEEDED:
        if done <= 1:
            return "Succeeded on the first attempt" if done == 1 else "Succeeded"
        return f"Succeeded on attempt {done} of {most}"
    if state is JobState.FAILED:
        words = f"Failed after {_times(done)}" if done else "Failed"
        return f"{words}:" if job.last_error else words
    return "Cancelled before it ran" if done == 0 else f"Cancelled after {_times(done)}"


def state_detail(job: BackgroundJob) -> str:
    """The error that goes with the words: a failed job's reason, or the last error before a retry."""
    if not job.last_error or job.state in (JobState.SUCCEEDED, JobState.CANCELLED):
        return ""
    if job.state is JobState.FAILED:
        return job.last_error
    return f"Last error: {job.last_error}"
