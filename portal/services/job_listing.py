"""The jobs list as people read it: each job's object named (``object_names``, one SELECT per object
type on the page) and its state in words ("Failed after 5 attempts", "Waiting to retry (attempt 2
of 5) at 10:32"), not "failed attempt 5/5".

A long job's progress is a bar with counts ("1,200 of 5,000 codes · about 20 s left",
``progress_of``) and a sentence on what happens next (``next_step``). ``present_job`` is all of it
for one job, as ``templates/_job_progress.html`` renders it and ``staff.job_status`` returns it to
``static/js/job-status.js``, which writes what it is sent: the words have this one definition.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from portal.core.pagination import Page, paginate
from portal.core.sorting import Sort, Sorting
from portal.core.text import count_text, plural
from portal.core.text import lazy_gettext as _l
from portal.jobs.kinds import JobKind
from portal.models import BackgroundJob, JobState, utcnow
from portal.services.object_names import NamedObject, ObjectNames

FINAL = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobProgress:
    done: int
    total: int | None  # None: not known (the bar is indeterminate)
    unit: str
    label: str  # "1,200 of 5,000 codes · about 20 s left"

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, self.done * 100 // self.total)

    def as_json(self) -> dict[str, object]:
        return {
            "done": self.done,
            "total": self.total,
            "unit": self.unit,
            "percent": self.percent,
            "label": self.label,
        }


JOB_SORTING = Sorting(
    columns={
        "id": BackgroundJob.id,
        "kind": BackgroundJob.kind,
        "state": BackgroundJob.state,
        "created": BackgroundJob.created_at,
    },
    default="-id",
    tiebreak=BackgroundJob.id,
    descending_first={"id", "created"},
)


def list_jobs(state: JobState | None, kind: str, page: int, sort: Sort) -> Page[BackgroundJob]:
    """Recorded jobs in ``state`` and of ``kind`` when given, in ``sort``'s order (newest
    first by default), counted, read through a deferred join on the job id (``core.pagination``:
    the thousandth page of a busy queue costs the ids it skips, not the jobs)."""
    query = select(BackgroundJob)
    if state is not None:
        query = query.where(BackgroundJob.state == state)
    if kind:
        query = query.where(BackgroundJob.kind == kind)
    args = {"state": state.value if state else "", "kind": kind}
    return paginate(
        sort.order(query),
        page,
        scalars=True,
        count=True,
        key=BackgroundJob.id,
        args=args,
        sort=sort,
    )


@dataclass(frozen=True)
class JobRow:
    job: BackgroundJob
    object: NamedObject | None
    words: str  # the state as a sentence
    detail: str  # the error that goes with it ("" when none)
    step: str  # what a job that is not finished is doing ("" once it is)
    progress: JobProgress | None = None  # None until the job reports any
    next: str = ""  # what happens next, while the job is not finished

    @property
    def final(self) -> bool:
        return self.job.state in FINAL

    def as_json(self) -> dict[str, Any]:
        """What ``staff.job_status`` (and the org admins' bulk status) send the poller."""
        job = self.job
        return {
            "id": job.id,
            "state": job.state.value,
            "final": self.final,
            "words": self.words,
            "detail": self.detail,
            "step": self.step,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "last_error": job.last_error,
            "run_after": job.run_after.isoformat() if job.run_after else None,
            "progress": self.progress.as_json() if self.progress else None,
            "next": self.next,
        }


def present_jobs(jobs: Iterable[BackgroundJob], now: dt.datetime | None = None) -> list[JobRow]:
    jobs = list(jobs)
    names = ObjectNames()
    for job in jobs:
        if job.object_type:
            names.want(job.object_type, job.object_id)
    names.load()
    now = now or utcnow()
    return [
        present_job(
            job, now, names.name(job.object_type, job.object_id) if job.object_type else None
        )
        for job in jobs
    ]


def present_job(
    job: BackgroundJob, now: dt.datetime | None = None, named: NamedObject | None = None
) -> JobRow:
    """One job as the pages show it (``named``: its object, when the caller looked it up)."""
    now = now or utcnow()
    return JobRow(
        job=job,
        object=named,
        words=state_words(job, now),
        detail=state_detail(job),
        step=step_words(job),
        progress=progress_of(job),
        next=next_step(job),
    )


# What happens next, by kind, while a job runs; staff and org admins read it beside the bar.
NEXT_STEPS = {
    JobKind.CODES_GENERATE: _l(
        "The codes appear in the list below when the job finishes; you can leave this page."
    ),
    JobKind.CODES_ASSIGN_BULK: _l(
        "Each address's result appears here when the job finishes; you can leave this page and "
        "come back to it."
    ),
    JobKind.OPENEDX_CREATE_CONTRACT_RUN: _l(
        "The run shows as ready in edX when the job finishes; you can leave this page."
    ),
}
NEXT_DEFAULT = _l("This updates by itself; you can leave this page, the job carries on.")


def next_step(job: BackgroundJob) -> str:
    if job.state in FINAL:
        return ""
    return str(NEXT_STEPS.get(job.kind, NEXT_DEFAULT))  # type: ignore[call-overload]


def progress_of(job: BackgroundJob) -> JobProgress | None:
    """The current attempt's progress in words, with an estimate of the time left while it runs
    (from its pace since it started)."""
    done, total = job.progress_done, job.progress_total
    if done is None:
        return None
    unit = job.progress_unit or "items"
    if total is None and job.state in FINAL:
        # A count without a known total is what the job came to once it is over: no "so far",
        # and a job that succeeded shows a full bar rather than an unfinished one.
        label = counted_final(unit, done)
        if job.state is JobState.SUCCEEDED:
            total = done
        return JobProgress(done=done, total=total, unit=unit, label=label)
    label = counted(unit, done, total)
    left = _seconds_left(job)
    if left is not None:
        label = _("%(progress)s · %(left)s", progress=label, left=time_left(left))
    return JobProgress(done=done, total=total, unit=unit, label=label)


def counted_final(unit: str, done: int) -> str:
    """What a job that reported no total came to: "1,200 grades read"."""
    if unit == "codes":
        return plural(done, "%(num)s code", "%(num)s codes")
    if unit == "grades read":
        return plural(done, "%(num)s grade read", "%(num)s grades read")
    if unit == "progress rows read":
        return plural(done, "%(num)s progress row read", "%(num)s progress rows read")
    if unit == "certificates checked":
        return plural(done, "%(num)s certificate checked", "%(num)s certificates checked")
    return _("%(done)s %(unit)s", done=count_text(done), unit=unit)


def counted(unit: str, done: int, total: int | None) -> str:
    """ "1,200 of 5,000 codes", or while the total is not known "1,200 grades read so far". The
    jobs report their ``unit`` in English (``JobContext.progress``): the ones the portal's jobs
    use have their sentence here, in the reader's language; another unit is shown as it came."""
    n = count_text(done)
    if total is None:
        if unit == "codes":
            return plural(done, "%(num)s code so far", "%(num)s codes so far")
        if unit == "grades read":
            return plural(done, "%(num)s grade read so far", "%(num)s grades read so far")
        if unit == "progress rows read":
            return plural(
                done, "%(num)s progress row read so far", "%(num)s progress rows read so far"
            )
        if unit == "certificates checked":
            return plural(
                done, "%(num)s certificate checked so far", "%(num)s certificates checked so far"
            )
        return _("%(done)s %(unit)s so far", done=n, unit=unit)
    if unit == "codes":
        return plural(total, "%(done)s of %(num)s code", "%(done)s of %(num)s codes", done=n)
    if unit == "addresses":
        return plural(total, "%(done)s of %(num)s address", "%(done)s of %(num)s addresses", done=n)
    if unit == "organizations":
        return plural(
            total, "%(done)s of %(num)s organization", "%(done)s of %(num)s organizations", done=n
        )
    if unit == "steps":
        return plural(total, "%(done)s of %(num)s step", "%(done)s of %(num)s steps", done=n)
    return _("%(done)s of %(total)s %(unit)s", done=n, total=count_text(total), unit=unit)


def _seconds_left(job: BackgroundJob) -> float | None:
    done, total = job.progress_done or 0, job.progress_total
    if job.state is not JobState.RUNNING or not total or done <= 0 or done >= total:
        return None
    if job.started_at is None or job.progress_at is None:
        return None
    spent = (job.progress_at - job.started_at).total_seconds()
    if spent <= 0:
        return None
    return spent * (total - done) / done


def time_left(seconds: float) -> str:
    """ "a few seconds left", "about 20 s left", "about 3 min left", "about 2 h left"."""
    if seconds < 10:
        return _("a few seconds left")
    if seconds < 60:
        return _("about %(num)s s left", num=count_text(max(10, round(seconds / 5) * 5)))
    if seconds < 3600:
        return _("about %(num)s min left", num=count_text(math.ceil(seconds / 60)))
    return _("about %(num)s h left", num=count_text(round(seconds / 3600)))


def _when(words: str, moment: dt.datetime, now: dt.datetime) -> str:
    """``words`` with the time they will happen: "... at 10:32" today, "... on 06 Mar at 10:32"
    another day (UTC, as the page's times are)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    time = f"{moment:%H:%M}"  # the same digits in every language the portal speaks
    if moment.date() == now.astimezone(dt.UTC).date():
        return _("%(words)s at %(time)s", words=words, time=time)
    day = f"{moment:%d %b}" if get_locale() is None else str(format_date(moment, "dd MMM"))
    return _("%(words)s on %(day)s at %(time)s", words=words, day=day, time=time)


def state_words(job: BackgroundJob, now: dt.datetime) -> str:
    """The job's state as a sentence (ending with ":" when its error follows, see ``state_detail``)."""
    state, done, most = job.state, job.attempts or 0, job.max_attempts
    next_try = {"attempt": count_text(done + 1), "attempts": count_text(most)}
    this_try = {"attempt": count_text(done), "attempts": count_text(most)}
    if state is JobState.PENDING:
        if done == 0:
            words = _("Waiting to start")
        else:
            words = _("Waiting to retry (attempt %(attempt)s of %(attempts)s)", **next_try)
        if job.run_after is not None and job.run_after > now:
            return _when(words, job.run_after, now)
        return words
    if state is JobState.QUEUED:
        if done == 0:
            return _("Queued for a worker")
        return _("Queued for attempt %(attempt)s of %(attempts)s", **next_try)
    if state is JobState.RUNNING:
        if done <= 1:
            return _("Running")
        return _("Running attempt %(attempt)s of %(attempts)s", **this_try)
    if state is JobState.SUCCEEDED:
        if done <= 1:
            return _("Succeeded on the first attempt") if done == 1 else _("Succeeded")
        return _("Succeeded on attempt %(attempt)s of %(attempts)s", **this_try)
    if state is JobState.FAILED:
        words = (
            plural(done, "Failed after %(num)s attempt", "Failed after %(num)s attempts")
            if done
            else _("Failed")
        )
        return _("%(words)s:", words=words) if job.last_error else words
    if done == 0:
        return _("Cancelled before it ran")
    return plural(done, "Cancelled after %(num)s attempt", "Cancelled after %(num)s attempts")


def state_detail(job: BackgroundJob) -> str:
    """The error that goes with the words: a failed job's reason, or the last error before a retry."""
    if not job.last_error or job.state in (JobState.SUCCEEDED, JobState.CANCELLED):
        return ""
    if job.state is JobState.FAILED:
        return job.last_error
    return _("Last error: %(error)s", error=job.last_error)


# The steps handlers name with ``JobContext.set_step`` that read in the reader's language; a
# step not named here (one that carries counts, say) reads as the handler wrote it.
STEP_WORDS = {
    "checking source": _l("checking the source course"),
    "checking destination": _l("checking the new run's key"),
    "cloning": _l("cloning"),
    "verifying": _l("verifying"),
    "configuring": _l("configuring"),
    "creating modes": _l("creating enrollment modes"),
    "reading the run": _l("reading the run"),
    "updating dates": _l("updating dates"),
    "reading grades": _l("reading grades"),
    "finding user": _l("finding the user"),
    "adding member": _l("adding the member"),
    "removing member": _l("removing the member"),
    "reading Keycloak": _l("reading Keycloak"),
    "reading identity providers": _l("reading identity providers"),
    "reconciling": _l("reconciling"),
    "asking CyberSource": _l("asking CyberSource"),
}


def step_words(job: BackgroundJob) -> str:
    """What a job that is not finished is doing, in the reader's language where the step is
    one of ``STEP_WORDS``, else as its handler wrote it."""
    if job.state in FINAL or not job.step:
        return ""
    words = STEP_WORDS.get(job.step)
    return str(words) if words is not None else job.step
