"""Assigning codes from an org admin's CSV in a background job (b2b-rules sections 1.5 and 9), so a
file of a thousand addresses neither holds a request open nor the contract's lock for long.

* ``start`` is the request's part, once the file is read: it checks the size and the contract,
  records the ``codes.assign_bulk`` job and writes one ``BulkAssignmentRow`` per address, with no
  outcome yet, all in the request's transaction (a refused upload records nothing).
* ``assign_pending`` is the job's, a chunk at a time (``tasks.codes.assign_bulk``): the rows still
  without an outcome go through ``code_assignment.assign_codes`` under the contract lock, and get
  their outcomes in the transaction that assigns their codes. A retry carries on where the last
  attempt stopped; a row is never assigned twice.
* ``results`` is what the page shows once the job is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, insert, select

from portal.core.domain_errors import NotFound
from portal.extensions import db
from portal.jobs import JobKind
from portal.models import BackgroundJob, BulkAssignmentRow, Contract, Organization, User
from portal.services.code_assignment import (
    OUTCOME_DETAILS,
    AssignOutcome,
    AssignResult,
    assign_codes,
    check_assignable,
    check_bulk_size,
)
from portal.services.jobs import start_job

GIVEN_LENGTH = 320  # of BulkAssignmentRow.given
DETAIL_LENGTH = 200


def start(
    contract: Contract, org: Organization, addresses: Sequence[str], *, actor: User, base_url: str
) -> BackgroundJob:
    """Record the job that assigns a code to each of ``addresses`` (raises ``DomainError`` when
    there are too many or the contract hands out no codes now); the caller commits."""
    check_bulk_size(addresses)
    check_assignable(contract, org)
    job = start_job(
        JobKind.CODES_ASSIGN_BULK,
        {"contract_id": contract.id, "actor_id": actor.id, "base_url": base_url},
        about=("contract", contract.id),
        organization_id=org.id,
        audit={"kind": str(JobKind.CODES_ASSIGN_BULK), "addresses": len(addresses)},
    )
    db.session.execute(
        insert(BulkAssignmentRow),
        [
            {"job_id": job.id, "line": n, "given": given[:GIVEN_LENGTH]}
            for n, given in enumerate(addresses, start=1)
        ],
    )
    return job


def contract_bulk_job(contract: Contract, job_id: int) -> BackgroundJob:
    """A bulk assignment of this contract (so of its organization), else ``NotFound``: an admin of
    another organization cannot even learn that the job exists."""
    job = db.session.get(BackgroundJob, job_id)
    if (
        job is None
        or job.kind != JobKind.CODES_ASSIGN_BULK
        or job.organization_id != contract.organization_id
        or job.object_type != "contract"
        or job.object_id != str(contract.id)
    ):
        raise NotFound(_("This contract has no such assignment."))
    return job


def counts(job_id: int) -> tuple[int, int]:
    """(rows handled, rows in all) of a bulk assignment."""
    handled, total = db.session.execute(
        select(
            func.count(BulkAssignmentRow.outcome),  # counts the non-NULL outcomes
            func.count(BulkAssignmentRow.id),
        ).where(BulkAssignmentRow.job_id == job_id)
    ).one()
    return int(handled), int(total)


def assign_pending(job_id: int, contract_id: int, *, actor: User, base_url: str, limit: int) -> int:
    """Assign the next ``limit`` rows without an outcome and record their outcomes (the caller
    commits). Returns how many rows it handled: 0 when none was left."""
    rows = list(
        db.session.scalars(
            select(BulkAssignmentRow)
            .where(BulkAssignmentRow.job_id == job_id, BulkAssignmentRow.outcome.is_(None))
            .order_by(BulkAssignmentRow.line)
            .limit(limit)
        )
    )
    if not rows:
        return 0
    results = assign_codes(
        contract_id,
        [row.given for row in rows],
        actor=actor,
        base_url=base_url,
        lines=[row.line for row in rows],
    )
    for row, result in zip(rows, results, strict=True):
        row.email = result.email
        row.outcome = result.outcome.value
        row.detail = result.detail[:DETAIL_LENGTH]
        row.code = result.code
    return len(rows)


@dataclass(frozen=True)
class BulkResults:
    rows: list[AssignResult]  # the rows handled, in the file's order
    summary: dict[str, int]  # how many rows got each outcome, by its label
    unhandled: int  # rows the job did not get to (it failed)


def results(job_id: int) -> BulkResults:
    """Every row's result (one SELECT), its reason in the reader's language (the job stored it in
    English)."""
    rows = db.session.scalars(
        select(BulkAssignmentRow)
        .where(BulkAssignmentRow.job_id == job_id)
        .order_by(BulkAssignmentRow.line)
    ).all()
    handled = []
    for r in rows:
        if r.outcome is None:
            continue
        outcome = AssignOutcome(r.outcome)
        detail = str(OUTCOME_DETAILS[outcome]) if outcome in OUTCOME_DETAILS else r.detail
        handled.append(AssignResult(r.line, r.given, r.email, outcome, detail, r.code))
    summary: dict[str, int] = {}
    for result in handled:
        summary[result.label] = summary.get(result.label, 0) + 1
    return BulkResults(rows=handled, summary=summary, unhandled=len(rows) - len(handled))
