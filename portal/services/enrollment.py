"""Enrolling and unenrolling (b2b-rules sections 3, 6, 7 and 8).

``enroll`` checks that the learner may use an active, in-date contract that owns the run and that the
run's enrollment window is open; claims the seat for ``auto`` contracts on first enrollment (inside
the contract lock); makes the order priced by the contract and the redeemed code; fulfils a zero total
at once (the enrollment and its edX job), or leaves a paid order pending for checkout. Enrolling twice
returns the existing enrollment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from portal.core.domain_errors import DomainError, NotFound
from portal.core.text import long_date
from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import (
    Contract,
    ContractProgram,
    CourseRun,
    EdxRunState,
    EdxSyncState,
    Enrollment,
    Membership,
    MembershipType,
    Order,
    Organization,
    Program,
    ProgramCourse,
    SeatSource,
    User,
    utcnow,
)
from portal.services.access import available_contracts
from portal.services.audit import record_event
from portal.services.locks import lock_contract
from portal.services.orders import fulfil_order, order_for
from portal.services.pricing import ZERO
from portal.services.redemption import contract_gate, refuse
from portal.services.seats import ContractFull, active_seat, claim_seat


@dataclass
class EnrollResult:
    enrollments: list[Enrollment] = field(default_factory=list)
    already: list[Enrollment] = field(default_factory=list)
    order: Order | None = None
    skipped: list[CourseRun] = field(default_factory=list)  # program runs not open now

    @property
    def needs_payment(self) -> bool:
        return (
            self.order is not None
            and self.order.total > ZERO
            and self.order.state.value == "pending"
        )


def _check_access(user: User, contract: Contract) -> None:
    # First: it loads the organizations of the learner's contracts, so the usual case needs no
    # query of its own for ``org``.
    available = {c.id for c in available_contracts(user)}
    org = db.session.get(Organization, contract.organization_id)
    assert org is not None
    contract_gate(contract, org)
    if contract.id not in available:
        if contract.membership_type is MembershipType.AUTO and _is_member(user, org):
            raise refuse(
                "code_needed",
                _(
                    "%(contract)s has a price per learner, so it needs an enrollment code as "
                    "well: enter the code %(organization)s gave you first.",
                    contract=contract.name,
                    organization=org.name,
                ),
                403,
            )
        if contract.membership_type is MembershipType.AUTO:
            raise refuse(
                "not_a_member",
                _(
                    "%(contract)s is for members of %(organization)s. Sign in "
                    "with your %(organization)s account to use it.",
                    contract=contract.name,
                    organization=org.name,
                ),
                403,
            )
        raise refuse(
            "no_access",
            _(
                "You don't have access to %(contract)s yet. Enter the code "
                "%(organization)s gave you first.",
                contract=contract.name,
                organization=org.name,
            ),
            403,
        )


def _is_member(user: User, org: Organization) -> bool:
    return (
        db.session.scalar(
            select(Membership.id).where(
                Membership.user_id == user.id, Membership.organization_id == org.id
            )
        )
        is not None
    )


def _check_run(run: CourseRun) -> None:
    now = utcnow()
    if not run.enrollment_open(now):
        if run.enrollment_start and now < run.enrollment_start:
            raise refuse(
                "enrollment_not_open",
                _(
                    "Enrollment in %(course)s opens on %(date)s.",
                    course=run.title,
                    date=long_date(run.enrollment_start),
                ),
                403,
            )
        raise refuse(
            "enrollment_closed", _("Enrollment in %(course)s is closed.", course=run.title), 403
        )
    if run.edx_state is not EdxRunState.READY:
        raise refuse(
            "run_not_ready",
            _("%(course)s is still being set up. Try again in a few minutes.", course=run.title),
            409,
        )


def _lock_for_enrollment(user: User, contract_id: int) -> Contract:
    """Lock what enrolling relies on. On an ``auto`` contract the first enrollment claims a seat,
    so the contract is locked exclusively. Elsewhere the learner's seat or membership must only
    stay put while we enroll: a shared lock lets learners enroll side by side while a seat
    revocation or a contract change waits for them, and the learner's own row, locked
    exclusively, keeps one learner's parallel clicks from both creating an order."""
    peek = db.session.get(Contract, contract_id)
    if peek is None or peek.membership_type is MembershipType.AUTO:
        return lock_contract(contract_id)
    contract = lock_contract(contract_id, shared=True)
    if contract.membership_type is MembershipType.AUTO:  # changed meanwhile: take it all
        return lock_contract(contract_id)
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
    return contract


def enroll_runs(user: User, contract_id: int, runs: list[CourseRun]) -> EnrollResult:
    contract = _lock_for_enrollment(user, contract_id)
    _check_access(user, contract)
    result = EnrollResult()
    wanted: list[CourseRun] = []
    for run in runs:
        existing = db.session.scalar(
            select(Enrollment).where(
                Enrollment.user_id == user.id, Enrollment.course_run_id == run.id
            )
        )
        if existing is not None and existing.active:
            result.already.append(existing)
        else:
            wanted.append(run)
    if not wanted:
        return result
    for run in wanted:
        _check_run(run)
    if (
        contract.membership_type is MembershipType.AUTO
        and active_seat(contract.id, user.id) is None
    ):
        try:
            claim_seat(contract, user, SeatSource.AUTO)  # first enrollment claims the seat
        except ContractFull as exc:
            raise refuse("contract_full", exc.message, 409) from exc
    order = order_for(user, contract, wanted)
    result.order = order
    if order.total == ZERO:
        fulfil_order(order.id)
        result.enrollments = list(
            db.session.scalars(
                select(Enrollment)
                .join(Enrollment.course_run)
                .options(contains_eager(Enrollment.course_run))  # the caller names the runs
                .where(
                    Enrollment.user_id == user.id,
                    Enrollment.course_run_id.in_([r.id for r in wanted]),
                )
            )
        )
    return result


def enroll(user: User, run_id: int) -> EnrollResult:
    run = db.session.get(CourseRun, run_id)
    if run is None or run.contract_id is None:
        raise NotFound(_("That course run is not offered through any contract."))
    return enroll_runs(user, run.contract_id, [run])


def program_runs(contract_id: int, program_id: int) -> list[CourseRun]:
    """The contract's runs of the program's courses, in program order."""
    linked = db.session.scalar(
        select(ContractProgram.id).where(
            ContractProgram.contract_id == contract_id, ContractProgram.program_id == program_id
        )
    )
    if linked is None:
        raise NotFound(_("That program is not part of this contract."))
    return list(
        db.session.scalars(
            select(CourseRun)
            .join(ProgramCourse, ProgramCourse.course_id == CourseRun.course_id)
            .where(ProgramCourse.program_id == program_id, CourseRun.contract_id == contract_id)
            .order_by(ProgramCourse.position, CourseRun.id)
        )
    )


def enroll_program(user: User, contract_id: int, program_id: int) -> EnrollResult:
    """Enrolls in the program's contract runs that are open now; the rest are reported."""
    if db.session.get(Program, program_id) is None:
        raise NotFound(_("That program does not exist."))
    runs = program_runs(contract_id, program_id)
    now = utcnow()
    open_runs = [r for r in runs if r.enrollment_open(now) and r.edx_state is EdxRunState.READY]
    if not open_runs:
        raise refuse(
            "nothing_open", _("None of this program's courses is open for enrollment now."), 409
        )
    result = enroll_runs(user, contract_id, open_runs)
    result.skipped = [r for r in runs if r not in open_runs]
    return result


def unenroll(user: User, enrollment_id: int) -> Enrollment:
    enrollment = db.session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.user_id != user.id:
        raise NotFound(_("That enrollment does not exist."))
    return deactivate_enrollment(enrollment)


def deactivate_enrollment(
    enrollment: Enrollment, *, organization_id: int | None = None, reason: str = ""
) -> Enrollment:
    """End an enrollment here and queue its deactivation in edX (the job checks edX first)."""
    if not enrollment.active:
        return enrollment
    enrollment.active = False
    enrollment.edx_state = EdxSyncState.PENDING
    enrollment.edx_error = None
    db.session.flush()
    record_job(
        JobKind.OPENEDX_UNENROLL,
        {"enrollment_id": enrollment.id},
        object_type="enrollment",
        object_id=enrollment.id,
        organization_id=organization_id,
    )
    record_event(
        "enrollment.deactivated",
        "enrollment",
        enrollment.id,
        organization_id=organization_id,
        after={"user_id": enrollment.user_id, "course_run_id": enrollment.course_run_id},
        reason=reason,
    )
    return enrollment


__all__ = [
    "DomainError",
    "EnrollResult",
    "deactivate_enrollment",
    "enroll",
    "enroll_program",
    "enroll_runs",
    "unenroll",
]
