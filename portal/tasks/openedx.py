"""Open edX jobs: creating a contract course run as a resumable state machine (openedx.md 6.2), and
sending a contract run's changed dates to Studio (b2b-rules 10).

Each step is safe to repeat. An edX destination that already exists, seen before or after the clone
call, is progress, not failure: a retry after a clone that succeeded continues with configuration and
never gets stuck (the reference system's flaw, openedx.md 6.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from portal.extensions import db
from portal.integrations.openedx import OpenEdxError, edx_client
from portal.jobs.errors import PermanentJobError, TransientJobError
from portal.jobs.kinds import JobKind
from portal.jobs.registry import JobContext, job_handler
from portal.models import BackgroundJob, CourseRun, EdxRunState
from portal.services.audit import record_event

T = TypeVar("T")
# Studio's schedule needs an end whenever it is sent (openedx.md 4.2, 6.2): an open-ended contract
# run is sent with this one, the same every time, so a repeated update changes nothing.
OPEN_END = dt.datetime(2099, 12, 31, tzinfo=dt.UTC)
MODE_PRICES = {"audit": 0, "verified": 1}  # edX needs a non-zero price for paid modes


def _edx(call: Callable[[], T]) -> T:
    try:
        return call()
    except OpenEdxError as exc:
        if exc.transient:
            raise TransientJobError(str(exc), retry_after=exc.retry_after) from exc
        raise PermanentJobError(str(exc)) from exc


def _mark_run_failed(job: BackgroundJob, message: str) -> None:
    run = db.session.get(CourseRun, (job.payload or {}).get("course_run_id"))
    if run is not None and run.edx_state is not EdxRunState.READY:
        run.edx_state = EdxRunState.FAILED
        run.edx_error = message


# The steps of a run's creation in edX, for its progress bar ("3 of 6 steps").
CLONE_STAGES = (
    "checking source",
    "checking destination",
    "cloning",
    "verifying",
    "configuring",
    "creating modes",
)


def _stage(ctx: JobContext, name: str) -> None:
    """Name the step starting (committing what is done) and count the steps done before it."""
    ctx.set_step(name)
    ctx.progress(CLONE_STAGES.index(name), len(CLONE_STAGES), "steps")


@job_handler(JobKind.OPENEDX_CREATE_CONTRACT_RUN, on_failure=_mark_run_failed)
def create_contract_run(ctx: JobContext) -> None:
    run = db.session.get(CourseRun, ctx.arg("course_run_id"))
    if run is None:
        raise PermanentJobError(f"course run {ctx.arg('course_run_id')} no longer exists")
    source_key = ctx.arg("source_key", str)
    key = run.course_key
    client = edx_client()

    _stage(ctx, "checking source")
    if _edx(lambda: client.get_course_run(source_key)) is None:
        raise PermanentJobError(
            f"The source run {source_key} is missing in edX, so {key} cannot be cloned. Create it in "
            "Studio (or flag another source run), then retry."
        )

    _stage(ctx, "checking destination")
    destination = _edx(lambda: client.get_course_run(key))
    if destination is None:
        run.edx_state = EdxRunState.CLONING
        run.edx_error = None
        _stage(ctx, "cloning")
        _clone(client, source_key, key)

    _stage(ctx, "verifying")
    destination = _edx(lambda: client.get_course_run(key))
    if destination is None:
        raise TransientJobError(f"edX does not show {key} yet after the clone")

    run.edx_state = EdxRunState.CONFIGURING
    _stage(ctx, "configuring")
    _edx(
        lambda: client.update_course_run(
            key,
            title=run.title,
            pacing_type="self_paced" if run.pacing.value == "self_paced" else "instructor_paced",
            start=run.start_at,
            end=run.end_at,
            enrollment_start=run.enrollment_start,
            enrollment_end=run.enrollment_end,
            team=_team(destination),
        )
    )

    _stage(ctx, "creating modes")
    _ensure_modes(client, key, [str(m) for m in run.enrollment_modes or []])

    run.edx_state = EdxRunState.READY
    run.edx_error = None
    db.session.commit()
    ctx.progress(len(CLONE_STAGES), len(CLONE_STAGES), "steps")
    record_event(
        "course_run.ready_in_edx",
        "course_run",
        run.id,
        after={"course_key": key, "source": source_key},
        actor_kind="job",
    )


def _team(destination: dict[str, Any]) -> list[dict[str, Any]]:
    team = destination.get("team")
    return [m for m in team if isinstance(m, dict)] if isinstance(team, list) else []


def _clone(client: Any, source_key: str, key: str) -> None:
    try:
        client.clone_course_run(source_key, key)
    except OpenEdxError as exc:
        # Whatever went wrong, look before deciding: a destination that exists is progress
        # (e.g. 400 "Destination course already exists." or a lost response).
        if _edx(lambda: client.get_course_run(key)) is not None:
            return
        if exc.transient:
            raise TransientJobError(str(exc), retry_after=exc.retry_after) from exc
        raise PermanentJobError(f"edX refused to clone {source_key} to {key}: {exc}") from exc


def _ensure_modes(client: Any, key: str, modes: list[str]) -> None:
    present = _edx(lambda: client.course_mode_slugs(key))
    for slug in modes:
        if slug in present:
            continue
        try:
            client.create_course_mode(key, slug, MODE_PRICES.get(slug, 1))
        except OpenEdxError as exc:
            if slug in _edx(lambda: client.course_mode_slugs(key)):
                continue  # created after all (lost response)
            if exc.transient:
                raise TransientJobError(str(exc), retry_after=exc.retry_after) from exc
            raise PermanentJobError(
                f"edX refused to create the {slug} mode of {key}: {exc}"
            ) from exc


@job_handler(JobKind.OPENEDX_UPDATE_CONTRACT_RUN)
def update_contract_run(ctx: JobContext) -> None:
    """PUT the run's current local title, pacing, dates and enrollment window to Studio, keeping
    its course team (read first: a PUT without ``team`` deletes it). It sends what the portal holds
    when it runs, not what was asked when it was queued, so running it twice (or a stale job after
    a newer one) leaves edX as the portal says."""
    run = db.session.get(CourseRun, ctx.arg("course_run_id"))
    if run is None:
        raise PermanentJobError(f"course run {ctx.arg('course_run_id')} no longer exists")
    key = run.course_key
    if run.edx_state is EdxRunState.FAILED:
        # Nothing in edX to update yet; retrying the creation configures the current dates.
        ctx.set_step("skipped: creation failed; its retry sends the dates")
        return
    if run.edx_state is not EdxRunState.READY:
        raise TransientJobError(f"{key} is still being created in edX; updating it after that")
    client = edx_client()

    ctx.set_step("reading the run")
    current = _edx(lambda: client.get_course_run(key))
    if current is None:
        raise PermanentJobError(f"{key} is missing in edX, so its dates cannot be updated")

    ctx.set_step("updating dates")
    start = run.start_at or _edx_start(current)
    _edx(
        lambda: client.update_course_run(
            key,
            title=run.title,
            pacing_type="self_paced" if run.pacing.value == "self_paced" else "instructor_paced",
            start=start,
            end=run.end_at or (OPEN_END if start is not None else None),
            enrollment_start=run.enrollment_start,
            enrollment_end=run.enrollment_end,
            team=_team(current),
        )
    )
    record_event(
        "course_run.updated_in_edx",
        "course_run",
        run.id,
        after={
            "course_key": key,
            "start": _iso(run.start_at),
            "end": _iso(run.end_at),
            "enrollment_start": _iso(run.enrollment_start),
            "enrollment_end": _iso(run.enrollment_end),
        },
        actor_kind="job",
    )


def _edx_start(current: dict[str, Any]) -> dt.datetime | None:
    schedule = current.get("schedule")
    raw = schedule.get("start") if isinstance(schedule, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
