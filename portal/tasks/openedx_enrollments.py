"""Open edX enrollment jobs (b2b-rules 8, openedx.md 8.4): make edX agree with a local enrollment.

``openedx.enroll`` makes sure the learner has an edX account (registering one, and keeping its
username at once, so a retry reuses it), looks at edX first, and enrolls in the enrollment's mode with
``force_enrollment`` only when edX has no active enrollment in that mode. ``openedx.unenroll``
deactivates. Both reload the enrollment and do nothing when it has changed since (re-enrolled,
unenrolled), and ask for the opposite job when it changes while they talk to edX, so late, repeated or
crossing jobs leave edX matching the portal.

Classification (openedx.md 8.4 and 12):

* transient (retried with backoff; the enrollment shows "retrying" with the error): 5xx, 429 (its
  ``Retry-After`` is honoured), timeouts and network errors, and the LMS's 400 "No course ... found
  for enrollment" while Studio has the run or the portal is still creating it (a fresh clone the LMS
  does not know yet, pitfall 4);
* permanent (the enrollment shows "failed" with edX's message until staff retry): every other 4xx,
  e.g. an expired or missing mode (400), a missing edX user (406), a refusal (403), and "No course
  ... found" for a run Studio does not have either.

A job that runs out of attempts fails the same way, through the failure hook.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select

from portal.extensions import db
from portal.integrations.openedx import OpenEdxClient, OpenEdxError, edx_client
from portal.jobs.errors import PermanentJobError, TransientJobError
from portal.jobs.kinds import JobKind
from portal.jobs.queue import record_job
from portal.jobs.registry import FailureHook, JobContext, job_handler
from portal.models import (
    BackgroundJob,
    Contract,
    CourseRun,
    EdxRunState,
    EdxSyncState,
    Enrollment,
    User,
)
from portal.services.audit import record_event

T = TypeVar("T")
NO_COURSE = re.compile(r"^No course '.*' found for enrollment")
BEING_CREATED = (EdxRunState.PENDING, EdxRunState.CLONING, EdxRunState.CONFIGURING)


# -- errors ----------------------------------------------------------------------------------


def _reason(exc: OpenEdxError) -> str:
    """edX's own words: the ``message`` (or DRF ``detail``, or a field's ``user_message``) of a
    JSON body, else the text of the body."""
    try:
        data = json.loads(exc.body) if exc.body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        for name in ("message", "detail", "developer_message", "error_description"):
            if isinstance(data.get(name), str) and data[name]:
                return str(data[name])
        for value in data.values():
            first = value[0] if isinstance(value, list) and value else None
            if isinstance(first, dict) and first.get("user_message"):
                return str(first["user_message"])
        if data.get("error_code"):
            return str(data["error_code"])
    text = " ".join(re.sub(r"<[^>]+>", " ", exc.body).split())
    return text[:300] or str(exc)


def _explain(exc: OpenEdxError, action: str) -> str:
    if exc.status is None:
        return str(exc)  # already "edX could not be reached to <what>: <why>"
    return f"edX refused to {action} (HTTP {exc.status}): {_reason(exc)}"


class _Sync:
    """Talks to edX for one enrollment and turns failures into job errors, showing "retrying" on
    the enrollment (committed, so staff and the learner see it while the job waits)."""

    def __init__(self, ctx: JobContext, enrollment: Enrollment) -> None:
        self.ctx = ctx
        self.enrollment = enrollment
        self.client: OpenEdxClient = edx_client()

    def retrying(self, message: str, retry_after: float | None = None) -> TransientJobError:
        self.enrollment.edx_state = EdxSyncState.RETRYING
        self.enrollment.edx_error = message
        self.ctx.set_step("retrying")
        return TransientJobError(message, retry_after=retry_after)

    def failure(self, exc: OpenEdxError, message: str) -> Exception:
        if exc.transient:
            return self.retrying(message, exc.retry_after)
        return PermanentJobError(message)

    def call(self, action: str, call: Callable[[OpenEdxClient], T]) -> T:
        try:
            return call(self.client)
        except OpenEdxError as exc:
            raise self.failure(exc, _explain(exc, action)) from exc


def _load(ctx: JobContext) -> Enrollment:
    enrollment_id = ctx.arg("enrollment_id")
    enrollment = db.session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise PermanentJobError(f"enrollment {enrollment_id} no longer exists")
    return enrollment


def _mark_failed(active: bool) -> FailureHook:
    """Show a job's final failure on its enrollment, unless the learner has changed their mind
    since (then the newer job owns the state)."""

    def hook(job: BackgroundJob, message: str) -> None:
        enrollment_id = (job.payload or {}).get("enrollment_id")
        if not isinstance(enrollment_id, int) or isinstance(enrollment_id, bool):
            return  # a bad payload: nothing to show it on
        enrollment = db.session.get(Enrollment, enrollment_id)
        if enrollment is not None and enrollment.active is active:
            enrollment.edx_state = EdxSyncState.FAILED
            enrollment.edx_error = message

    return hook


def _synced(enrollment: Enrollment, after: dict[str, Any]) -> None:
    enrollment.edx_state = EdxSyncState.SYNCED
    enrollment.edx_error = None
    contract = db.session.get(Contract, enrollment.contract_id) if enrollment.contract_id else None
    record_event(
        "enrollment.synced",
        "enrollment",
        enrollment.id,
        organization_id=contract.organization_id if contract else None,
        after=after,
        actor_kind="job",
    )


def _changed_meanwhile(enrollment: Enrollment, active: bool) -> bool:
    """Did the learner enroll or unenroll while this job talked to edX? Then edX may now be the
    wrong way round (the other job could have run in between): ask for the other job again."""
    db.session.refresh(enrollment)
    if enrollment.active is active:
        return False
    enrollment.edx_state = EdxSyncState.PENDING
    record_job(
        JobKind.OPENEDX_ENROLL if enrollment.active else JobKind.OPENEDX_UNENROLL,
        {"enrollment_id": enrollment.id},
        object_type="enrollment",
        object_id=enrollment.id,
    )
    return True


# -- enroll ----------------------------------------------------------------------------------


def _edx_username(sync: _Sync, user: User) -> str:
    """The learner's edX username, registering an account the first time. The username is
    committed at once, so a retry after a successful registration reuses the account."""
    if user.edx_username:
        return user.edx_username
    sync.ctx.set_step("registering")
    name = user.name.strip() or user.email.partition("@")[0]
    username = sync.call(
        f"register {user.email}", lambda client: client.register_user(user.email, name)
    )
    taken = db.session.scalar(
        select(User.id).where(User.edx_username == username, User.id != user.id)
    )
    if taken is not None:
        raise PermanentJobError(
            f"edX account {username} (for {user.email}) is already linked to portal user {taken}"
        )
    user.edx_username = username
    sync.ctx.set_step("registered")
    return username


def _not_enrollable_yet(sync: _Sync, run: CourseRun) -> bool:
    """After "No course ... found for enrollment": will the LMS know the run soon? Yes while the
    portal is still creating it, or when Studio has it (the LMS lags behind a fresh clone)."""
    if run.edx_state in BEING_CREATED:
        return True
    try:
        return sync.client.get_course_run(run.course_key) is not None
    except OpenEdxError:
        return True  # cannot tell: retry, the attempts are bounded


def _enroll_in_edx(sync: _Sync, username: str, run: CourseRun, mode: str) -> None:
    action = f"enroll {username} in {run.course_key} as {mode}"
    try:
        result = sync.client.enroll(username, run.course_key, mode)
    except OpenEdxError as exc:
        message = _explain(exc, action)
        if exc.status == 400 and NO_COURSE.match(_reason(exc)):
            if _not_enrollable_yet(sync, run):
                raise sync.retrying(f"{message} (the run is new; waiting for edX)") from exc
            raise PermanentJobError(f"{message} (Studio has no such run either)") from exc
        raise sync.failure(exc, message) from exc
    if result.get("is_active") is not True:
        raise PermanentJobError(
            f"edX left the enrollment of {username} in {run.course_key} inactive: "
            f"{json.dumps(result)[:300]}"
        )


@job_handler(JobKind.OPENEDX_ENROLL, on_failure=_mark_failed(active=True))
def enroll(ctx: JobContext) -> None:
    """Enroll the learner in edX (b2b-rules 8): account, look first, enroll, mark synced."""
    enrollment = _load(ctx)
    if not enrollment.active:
        return  # unenrolled since: the unenroll job takes it from here
    run, user, mode = enrollment.course_run, enrollment.user, enrollment.mode
    sync = _Sync(ctx, enrollment)
    ctx.set_step("checking account")
    username = _edx_username(sync, user)

    ctx.set_step("checking edX")
    current = sync.call(
        f"read the enrollment of {username} in {run.course_key}",
        lambda client: client.get_enrollment(username, run.course_key),
    )
    already = bool(current and current.get("is_active") is True and current.get("mode") == mode)
    if not already:
        ctx.set_step("enrolling")
        _enroll_in_edx(sync, username, run, mode)
    if _changed_meanwhile(enrollment, active=True):
        return
    _synced(
        enrollment,
        {
            "active": True,
            "course_key": run.course_key,
            "edx_username": username,
            "mode": mode,
            "already_in_edx": already,
        },
    )


# -- unenroll --------------------------------------------------------------------------------


@job_handler(JobKind.OPENEDX_UNENROLL, on_failure=_mark_failed(active=False))
def unenroll(ctx: JobContext) -> None:
    """Deactivate the learner's edX enrollment (b2b-rules 8). Nothing to do when edX has no
    active enrollment (or the learner no edX account)."""
    enrollment = _load(ctx)
    if enrollment.active:
        return  # enrolled again since: the enroll job takes it from here
    key = enrollment.course_run.course_key
    username = enrollment.user.edx_username
    deactivated = False
    if username:
        sync = _Sync(ctx, enrollment)
        ctx.set_step("checking edX")
        current = sync.call(
            f"read the enrollment of {username} in {key}",
            lambda client: client.get_enrollment(username, key),
        )
        if current is not None and current.get("is_active") is True:
            ctx.set_step("deactivating")
            result = sync.call(
                f"unenroll {username} from {key}", lambda client: client.deactivate(username, key)
            )
            if result.get("is_active") is True:
                raise PermanentJobError(f"edX still shows {username} active in {key}")
            deactivated = True
        if _changed_meanwhile(enrollment, active=False):
            return
    _synced(
        enrollment,
        {
            "active": False,
            "course_key": key,
            "edx_username": username,
            "deactivated_in_edx": deactivated,
        },
    )
