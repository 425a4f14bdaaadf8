"""Copies of a contract: what a renewal (``services.contract_renewal``) and a clone share, and the
clone itself (b2b-rules sections 1.3-6 and 10).

* **Courseware** (``courseware_plan``): the old programs are linked again in order and each course
  gets a new contract run cloned from its source run, as adding courseware does
  (``services.contract_runs``: minted under the contract lock, made in edX by a job). Courses
  without a source run are named. Attached catalog runs stay on the old contract (a run belongs to
  one contract, and its learners are in it); their course gets a new contract run. Runs staff
  removed are not renewed; a course with two cohorts gets one new run.
* **Terms** (``terms_from``, ``checked_values``): the old contract's, from a new start, with what
  the form changes checked as contract creation checks it; the short name must be free in the
  organization the copy is made in.
* ``clone_contract`` copies terms and courseware for any organization: no seats, creation's codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.core.domain_errors import Conflict, NotFound
from portal.extensions import db
from portal.models import (
    Contract,
    ContractProgram,
    Course,
    CourseRun,
    Organization,
    Program,
    ProgramCourse,
    utcnow,
)
from portal.services import contract_runs
from portal.services.audit import record_event
from portal.services.contract_run_schedule import removed_run_keys
from portal.services.contracts import (
    EDITABLE,
    ContractInvalid,
    check_dates,
    check_price,
    check_seats,
)
from portal.services.contracts import create_contract as _create_contract
from portal.services.locks import lock_contract
from portal.services.seat_code_sync import sync_seat_codes
from portal.services.seat_codes import needs_seat_codes

# What a renewal or a clone takes from the form; the rest is the old contract's.
FIELDS = (*EDITABLE, "membership_type", "unlimited_seats", "seat_limit")


@dataclass
class CoursewarePlan:
    """The courseware a renewal or clone gets: a new contract run per course, the programs."""

    courses: list[Course] = field(default_factory=list)  # each gets a new contract run
    sources: dict[int, str] = field(default_factory=dict)  # course id -> its source run's key
    programs: list[Program] = field(default_factory=list)  # linked again, in this order
    without_source: list[Course] = field(default_factory=list)  # nothing to clone: no run
    not_moved: list[CourseRun] = field(default_factory=list)  # attached runs: stay on the old one


@dataclass
class Proposal:
    """The contract a renewal or clone would create, and what comes with it."""

    contract: Contract  # the one renewed or cloned
    organization: Organization  # where the new one is made
    values: dict[str, Any]
    courseware: CoursewarePlan
    seat_coded: bool = False  # seat-limited and entered with codes: one code per seat
    new_codes: int = 0  # unused one-time seat codes made for the free seats
    multi_use_code: bool = False  # an unlimited contract entered with codes gets one


# --------------------------------------------------------------------------- proposals


T = TypeVar("T", Contract, Organization)


def existing(model: type[T], object_id: int) -> T:
    found = db.session.get(model, object_id)
    if found is None:
        raise NotFound(f"That {model.__name__.lower()} does not exist.")
    return found


def audit_contract(
    action: str, contract: Contract, after: dict[str, Any], before: dict[str, Any] | None = None
) -> None:
    record_event(
        action,
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        before=before,
        after=after,
    )


def _add_year(at: dt.datetime) -> dt.datetime:
    try:
        return at.replace(year=at.year + 1)
    except ValueError:  # 29 February
        return at.replace(year=at.year + 1, day=28)


def free_slug(organization_id: int, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first short name no contract of the
    organization uses."""
    taken = set(
        db.session.scalars(select(Contract.slug).where(Contract.organization_id == organization_id))
    )
    base = base[:96].strip("-") or "contract"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def terms_from(contract: Contract, start: dt.datetime, *, open_ended: bool) -> dict[str, Any]:
    """The contract's terms from ``start``, for as long as it ran (a year when that is unknown;
    with ``open_ended``, an open-ended contract stays so)."""
    if contract.start_at and contract.end_at:
        end: dt.datetime | None = start + (contract.end_at - contract.start_at)
    else:
        end = None if open_ended and contract.end_at is None else _add_year(start)
    return {**{n: getattr(contract, n) for n in FIELDS}, "start_at": start, "end_at": end}


def checked_values(defaults: dict[str, Any], values: Mapping[str, Any] | None) -> dict[str, Any]:
    unknown = set(values or {}) - set(FIELDS)
    if unknown:
        raise ContractInvalid(f"These fields can't be set here: {', '.join(sorted(unknown))}.")
    merged = {**defaults, **(values or {})}
    check_dates(merged["start_at"], merged["end_at"])
    check_price(merged["price_per_learner"])
    check_seats(bool(merged["unlimited_seats"]), merged["seat_limit"], 0)
    return merged


def check_slug_free(organization_id: int, values: dict[str, Any]) -> None:
    taken = db.session.scalar(
        select(Contract.id).where(
            Contract.organization_id == organization_id, Contract.slug == values["slug"]
        )
    )
    if taken is not None:
        raise Conflict(
            f"Another contract of this organization already uses the short name "
            f"{values['slug']!r}; choose another."
        )


def plan_codes(proposal: Proposal, carried: int) -> None:
    values = proposal.values
    paid = bool(values["price_per_learner"] and values["price_per_learner"] > 0)
    if not needs_seat_codes(values["membership_type"], paid):
        return
    if values["unlimited_seats"]:
        proposal.multi_use_code = True
    else:
        proposal.seat_coded = True
        proposal.new_codes = max(0, int(values["seat_limit"] or 0) - carried)


# --------------------------------------------------------------------------- courseware


def courseware_plan(contract: Contract) -> CoursewarePlan:
    """The courseware a copy of ``contract`` gets: its programs, then the courses of its runs
    (except runs staff removed), each once, with the source run to clone."""
    links = db.session.scalars(
        select(ContractProgram)
        .options(
            joinedload(ContractProgram.program)
            .selectinload(Program.course_links)
            .joinedload(ProgramCourse.course)
        )
        .where(ContractProgram.contract_id == contract.id)
        .order_by(ContractProgram.position)
    ).all()
    removed = removed_run_keys(contract.id)
    runs = [
        run
        for run in db.session.scalars(
            select(CourseRun)
            .options(joinedload(CourseRun.course))
            .where(CourseRun.contract_id == contract.id)
            .order_by(CourseRun.course_key)
        )
        if run.course_key not in removed
    ]
    plan = CoursewarePlan(programs=[link.program for link in links])
    plan.not_moved = [run for run in runs if run.run_number is None]
    wanted = [pc.course for link in links for pc in link.program.course_links]
    seen: set[int] = set()
    for course in [*wanted, *(run.course for run in runs)]:
        if course.id in seen:
            continue
        seen.add(course.id)
        source = contract_runs.source_run(course)
        if source is None:
            plan.without_source.append(course)
        else:
            plan.courses.append(course)
            plan.sources[course.id] = source.course_key
    return plan


def add_courseware(contract_id: int, plan: CoursewarePlan) -> list[CourseRun]:
    """Link the programs and create the new contract runs (their edX jobs are recorded)."""
    runs: list[CourseRun] = []
    for program in plan.programs:
        runs.extend(contract_runs.add_program(contract_id, program.id).runs)
    made = {run.course_id for run in runs}
    for course in plan.courses:
        if course.id not in made:
            runs.append(contract_runs.add_course(contract_id, course.id))
            made.add(course.id)
    return runs


# --------------------------------------------------------------------------- clone


def clone_defaults(contract: Contract) -> dict[str, Any]:
    """The same terms from now (the short name is made free in the organization chosen)."""
    start = utcnow().replace(second=0, microsecond=0)
    return {**terms_from(contract, start, open_ended=True), "slug": None}


def clone_preview(
    contract_id: int, organization_id: int, values: Mapping[str, Any] | None = None
) -> Proposal:
    """What cloning the contract into the organization would create. Writes nothing."""
    source, org = existing(Contract, contract_id), existing(Organization, organization_id)
    merged = checked_values(clone_defaults(source), values)
    if not merged.get("slug"):
        merged["slug"] = free_slug(org.id, source.slug)
    check_slug_free(org.id, merged)
    proposal = Proposal(source, org, merged, courseware_plan(source))
    plan_codes(proposal, 0)
    return proposal


def clone_contract(
    contract_id: int, organization_id: int, values: Mapping[str, Any] | None = None
) -> Contract:
    """A copy of the contract's terms and courseware (new contract runs for the organization),
    without seats and with only the codes contract creation makes; audited ``contract.cloned``
    on both contracts. The caller commits."""
    lock_contract(contract_id, shared=True)  # its courseware stays as read
    proposal = clone_preview(contract_id, organization_id, values)
    new = _create_contract(proposal.organization, proposal.values)
    runs = add_courseware(new.id, proposal.courseware)
    sync_seat_codes(lock_contract(new.id))
    source = proposal.contract
    copied = {
        "runs": [run.course_key for run in runs],
        "programs": [p.key for p in proposal.courseware.programs],
        "without_source_run": [c.key for c in proposal.courseware.without_source],
    }
    audit_contract("contract.cloned", new, {"cloned_from": source.id, **copied})
    audit_contract(
        "contract.cloned", source, {"cloned_as": new.id, "organization_id": new.organization_id}
    )
    return new
