"""Open edX jobs: creating a contract course run as a resumable state machine (openedx.md 6.2).

Each step is safe to repeat. An edX destination that already exists, seen before or after the clone
call, is progress, not failure: a retry after a clone that succeeded continues with configuration and
never gets stuck (the reference system's flaw, openedx.md 6.1).
"""

from __future__ import annotations

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


@job_handler(JobKind.OPENEDX_CREATE_CONTRACT_RUN, on_failure=_mark_run_failed)
def create_contract_run(ctx: JobContext) -> None:
    run = db.session.get(CourseRun, ctx.arg("course_run_id"))
    if run is None:
        raise PermanentJobError(f"course run {ctx.arg('course_run_id')} no longer exists")
    source_key = ctx.arg("source_key", str)
    key = run.course_key
    client = edx_client()

    ctx.set_step("checking source")
    if _edx(lambda: client.get_course_run(source_key)) is None:
        raise PermanentJobError(
            f"The source run {source_key} is missing in edX, so {key} cannot be cloned. Create it in "
            "Studio (or flag another source run), then retry."
        )

    ctx.set_step("checking destination")
    destination = _edx(lambda: client.get_course_run(key))
    if destination is None:
        run.edx_state = EdxRunState.CLONING
        run.edx_error = None
        ctx.set_step("cloning")
        _clone(client, source_key, key)

    ctx.set_step("verifying")
    destination = _edx(lambda: client.get_course_run(key))
    if destination is None:
        raise TransientJobError(f"edX does not show {key} yet after the clone")

    run.edx_state = EdxRunState.CONFIGURING
    ctx.set_step("configuring")
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

    ctx.set_step("creating modes")
    _ensure_modes(client, key, [str(m) for m in run.enrollment_modes or []])

    run.edx_state = EdxRunState.READY
    run.edx_error = None
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
