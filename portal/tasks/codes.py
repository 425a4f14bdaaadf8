"""The ``codes.generate`` job: many enrollment codes, in committed chunks, with progress.

Two payload shapes:

* ``{"contract_id": 1, "seats": true}`` tops the contract's seat codes up to its seat limit
  (b2b-rules section 5). It recomputes what is missing under the contract row lock before each
  chunk, so a retry, or a seat change meanwhile, never makes one code too many.
* a batch (``services.codes.batch_payload``): the batch id is fixed in the payload, so the job
  counts the codes already in that batch and makes only the rest.

Each chunk is committed, then reported with ``ctx.progress(done, total, "codes")``: the bar the
staff's contract page shows while the job runs.

``codes.assign_bulk`` assigns an org admin's CSV of addresses (``services.bulk_assignment``), a
chunk of rows at a time, each committed with its outcomes and then reported as progress.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select

from portal.core.domain_errors import DomainError, NotFound
from portal.extensions import db
from portal.jobs.errors import PermanentJobError
from portal.jobs.kinds import JobKind
from portal.jobs.registry import JobContext, job_handler
from portal.models import Contract, EnrollmentCode, RedemptionType, User
from portal.services import bulk_assignment
from portal.services import codes as code_service
from portal.services.audit import record_event
from portal.services.locks import lock_contract
from portal.services.seat_codes import seat_code_plan

CHUNK = 5000
ASSIGN_CHUNK = 100  # rows of a bulk assignment per transaction (each sends its invitations)


def _contract(contract_id: int) -> Contract:
    try:
        return lock_contract(contract_id)
    except NotFound:
        raise PermanentJobError(f"contract {contract_id} no longer exists") from None


def _when(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise PermanentJobError(f"job payload {name!r} is not a date: {value!r}") from None


@job_handler(JobKind.CODES_GENERATE)
def generate(ctx: JobContext) -> None:
    contract_id = ctx.arg("contract_id")
    if (ctx.job.payload or {}).get("seats"):
        _seat_codes(ctx, contract_id)
    else:
        _batch(ctx, contract_id)


def _seat_codes(ctx: JobContext, contract_id: int) -> None:
    added = 0
    while True:
        contract = _contract(contract_id)
        plan = seat_code_plan(contract)
        if not plan.wants_codes or plan.to_add == 0:
            break
        n = min(CHUNK, plan.to_add)
        code_service.insert_codes(contract.id, n, batch=f"seats-{ctx.job.id}", for_seat=True)
        added += n
        db.session.commit()
        ctx.progress(plan.live + n, plan.target, "codes")
    contract = _contract(contract_id)
    record_event(
        "codes.seat_codes_adjusted",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        after={"seat_limit": contract.seat_limit, "added": added, "job": ctx.job.id},
        actor_kind="job",
    )


def _batch(ctx: JobContext, contract_id: int) -> None:
    batch = ctx.arg("batch", str)
    total = ctx.arg("count")
    payload = ctx.job.payload
    try:
        rtype = RedemptionType(str(payload.get("redemption_type")))
    except ValueError:
        raise PermanentJobError(
            f"job payload has an unknown redemption type {payload.get('redemption_type')!r}"
        ) from None
    max_uses = payload.get("max_uses")
    if max_uses is not None and (not isinstance(max_uses, int) or isinstance(max_uses, bool)):
        raise PermanentJobError(f"job payload 'max_uses' must be an integer, not {max_uses!r}")
    activates_at = _when(payload.get("activates_at"), "activates_at")
    expires_at = _when(payload.get("expires_at"), "expires_at")
    discount = _discount(payload)
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        raise PermanentJobError(f"contract {contract_id} no longer exists")
    while True:
        done = int(
            db.session.scalar(
                select(func.count(EnrollmentCode.id)).where(EnrollmentCode.batch == batch)
            )
            or 0
        )
        if done >= total:
            break
        n = min(CHUNK, total - done)
        code_service.insert_codes(
            contract.id,
            n,
            batch=batch,
            redemption_type=rtype,
            max_uses=max_uses,
            activates_at=activates_at,
            expires_at=expires_at,
            discount=discount,
        )
        db.session.commit()
        ctx.progress(done + n, total, "codes")
    code_service.record_batch_event(
        contract,
        batch,
        total,
        rtype,
        max_uses,
        activates_at,
        expires_at,
        discount=discount,
        actor_kind="job",
    )


def _discount(payload: dict[str, object]) -> code_service.Discount:
    """The batch's discount from the payload (decimal strings), checked like the form checks it."""
    values: list[Decimal | None] = []
    for name in ("discount_percent", "discount_amount"):
        raw = payload.get(name)
        try:
            values.append(None if raw is None else Decimal(str(raw)))
        except InvalidOperation:
            raise PermanentJobError(f"job payload {name!r} is not a number: {raw!r}") from None
    try:
        return code_service.Discount.checked(*values)
    except DomainError as exc:
        raise PermanentJobError(f"job payload discount: {exc.message}") from None


@job_handler(JobKind.CODES_ASSIGN_BULK)
def assign_bulk(ctx: JobContext) -> None:
    job_id = ctx.job.id
    contract_id = ctx.arg("contract_id")
    base_url = ctx.arg("base_url", str)
    actor = db.session.get(User, ctx.arg("actor_id"))
    if actor is None:
        raise PermanentJobError("the admin who asked for this assignment no longer exists")
    handled, total = bulk_assignment.counts(job_id)
    ctx.progress(handled, total, "addresses")
    while handled < total:
        try:
            n = bulk_assignment.assign_pending(
                job_id, contract_id, actor=actor, base_url=base_url, limit=ASSIGN_CHUNK
            )
        except NotFound:
            raise PermanentJobError(f"contract {contract_id} no longer exists") from None
        except DomainError as exc:  # the contract ended or was deactivated meanwhile
            raise PermanentJobError(exc.message) from None
        if n == 0:
            break
        db.session.commit()
        handled += n
        ctx.progress(handled, total, "addresses")
