"""Renewing a contract for its next term (b2b-rules sections 1.3-6 and 10); what a renewal shares
with a clone (the courseware, the terms) is in ``services.contract_copies``.

A renewal is a new contract whose ``renewed_from`` is the old one (renewed once: a unique index),
previewed by ``renewal_preview`` and made in one transaction by ``renew_contract``:

* **Courseware** (``contract_copies.courseware_plan``): the old programs linked again, a new
  contract run per course cloned from its source run; attached catalog runs stay on the old one.
* **Seat holders**, if chosen, carry over earliest claim first while the new limit holds
  (``claim_seat`` under the new contract's lock checks it again: never oversold); the others are
  named as not fitting. A carried seat's source is ``staff``; on a seat-limited contract entered
  with codes it holds a used one-time seat code, as a redeemed seat does, so the contract keeps one
  code per seat (section 5) and creation's codes (``sync_seat_codes``) are its free seats'.
* **Old codes**, if chosen: the old contract's unused, unassigned codes are deactivated.

The preview's fingerprint covers the holders, codes and courseware it shows: the renewal refuses
(``PreviewOutdated``) when they changed since, so what is made is what the person confirmed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select, update

from portal.core.domain_errors import Conflict
from portal.extensions import db
from portal.models import (
    AuditEvent,
    CodeRedemption,
    Contract,
    EnrollmentCode,
    RedemptionType,
    Seat,
    SeatSource,
    User,
    utcnow,
)
from portal.services.codes import new_code
from portal.services.contract_copies import (
    Proposal,
    add_courseware,
    audit_contract,
    check_slug_free,
    checked_values,
    courseware_plan,
    existing,
    free_slug,
    plan_codes,
    terms_from,
)
from portal.services.contracts import create_contract as _create_contract
from portal.services.locks import lock_contract
from portal.services.seat_code_sync import sync_seat_codes
from portal.services.seat_codes import needs_seat_codes
from portal.services.seats import ContractFull, claim_seat

YEAR_AT_END = re.compile(r"(?:^|(?<=\s))(?:19|20)\d{2}$")


class PreviewOutdated(Conflict):
    code = "renewal_preview_outdated"


@dataclass(frozen=True)
class Holder:
    """A current seat holder of the old contract."""

    user_id: int
    email: str
    name: str
    claimed_at: dt.datetime


@dataclass
class RenewalPreview(Proposal):
    carry_over: bool = False
    fit: list[Holder] = field(default_factory=list)  # carried over, earliest claim first
    left_out: list[Holder] = field(default_factory=list)  # past the new limit: no seat
    codes_to_deactivate: int = 0
    fingerprint: str = ""


# --------------------------------------------------------------------------- terms


def term_name(name: str, year: int) -> str:
    """``"Acme Academy 2026"`` -> ``"Acme Academy 2027"``; a name without a year gets one."""
    base = YEAR_AT_END.sub("", name).rstrip()
    return f"{base[:195]} {year}" if base else str(year)


def renewal_defaults(contract: Contract) -> dict[str, Any]:
    """The next term: it starts when the old one ends (or now), lasts as long (or a year when the
    old one is open-ended), and keeps the seats, price, type and texts; its name says the year."""
    start = contract.end_at or utcnow().replace(second=0, microsecond=0)
    slug = YEAR_AT_END.sub("", contract.slug.replace("-", " ")).strip().replace(" ", "-")
    return {
        **terms_from(contract, start, open_ended=False),
        "name": term_name(contract.name, start.year),
        "slug": free_slug(contract.organization_id, f"{slug}-{start.year}"),
    }


# --------------------------------------------------------------------------- seats and codes


def seat_holders(contract_id: int) -> list[Holder]:
    """The contract's current seat holders, earliest claim first (ties by seat id)."""
    rows = db.session.execute(
        select(Seat.user_id, User.email, User.name, Seat.claimed_at)
        .join(User, User.id == Seat.user_id)
        .where(Seat.contract_id == contract_id, Seat.revoked_at.is_(None))
        .order_by(Seat.claimed_at, Seat.id)
    ).all()
    return [Holder(int(uid), email, name or "", claimed) for uid, email, name, claimed in rows]


def _unused_codes(contract_id: int) -> Any:
    """Codes nobody used or was assigned, still redeemable."""
    return and_(
        EnrollmentCode.contract_id == contract_id,
        EnrollmentCode.deactivated_at.is_(None),
        EnrollmentCode.times_redeemed == 0,
        EnrollmentCode.assigned_email.is_(None),
    )


def _deactivate_unused_codes(old: Contract, new: Contract) -> int:
    """Deactivate the old contract's unused codes; codes a redemption holds right now are
    skipped (that redemption uses them), so the renewal never waits on, or deadlocks with, it."""
    ids = list(
        db.session.scalars(
            select(EnrollmentCode.id).where(_unused_codes(old.id)).with_for_update(skip_locked=True)
        )
    )
    done = 0
    for start in range(0, len(ids), 1000):
        result = db.session.execute(
            update(EnrollmentCode)
            .where(EnrollmentCode.id.in_(ids[start : start + 1000]), _unused_codes(old.id))
            .values(deactivated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        done += int(getattr(result, "rowcount", 0) or 0)
    if done:
        audit_contract("codes.deactivated", old, {"count": done, "renewed_as": new.id})
    return done


def _used_seat_code(contract: Contract, user_id: int, batch: str) -> int:
    """A one-time seat code of ``contract`` already used by the learner (a carried seat holds
    one, as a redeemed seat does); returns its redemption's id."""
    code = EnrollmentCode(
        code=new_code(),
        contract_id=contract.id,
        redemption_type=RedemptionType.ONE_TIME,
        max_uses=1,
        times_redeemed=1,
        for_seat=True,
        batch=batch,
    )
    db.session.add(code)
    db.session.flush()
    redemption = CodeRedemption(code_id=code.id, user_id=user_id, contract_id=contract.id)
    db.session.add(redemption)
    db.session.flush()
    return redemption.id


def _carry_over(new: Contract, holders: list[Holder]) -> tuple[list[Holder], list[Holder]]:
    """Claim seats on ``new`` (locked by the caller) for ``holders`` in order, while the limit
    holds; the rest are left out."""
    coded = needs_seat_codes(new.membership_type, new.is_paid) and not new.unlimited_seats
    batch = uuid.uuid4().hex
    carried: list[Holder] = []
    left_out: list[Holder] = []
    for holder in holders:
        if left_out:  # full: the limit does not move inside the lock
            left_out.append(holder)
            continue
        user = db.session.get(User, holder.user_id)
        assert user is not None
        try:
            seat, _ = claim_seat(new, user, SeatSource.STAFF)
        except ContractFull:
            left_out.append(holder)
            continue
        if coded:
            seat.redemption_id = _used_seat_code(new, user.id, batch)
        carried.append(holder)
    db.session.flush()
    return carried, left_out


# --------------------------------------------------------------------------- renewal


def _fingerprint(preview: RenewalPreview) -> str:
    state = {
        "fit": [h.user_id for h in preview.fit],
        "left_out": [h.user_id for h in preview.left_out],
        "codes": preview.codes_to_deactivate,
        "courses": [c.id for c in preview.courseware.courses],
        "programs": [p.id for p in preview.courseware.programs],
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:32]


def _preview(
    old: Contract, values: Mapping[str, Any] | None, carry_over: bool, deactivate: bool
) -> RenewalPreview:
    renewal = db.session.scalar(select(Contract).where(Contract.renewed_from_id == old.id))
    if renewal is not None:
        raise Conflict(
            f"{old.name} was already renewed as {renewal.name}; a contract is renewed once. "
            "Renew the new one for the term after."
        )
    merged = checked_values(renewal_defaults(old), values)
    check_slug_free(old.organization_id, merged)
    preview = RenewalPreview(
        old, old.organization, merged, courseware_plan(old), carry_over=carry_over
    )
    if carry_over:
        holders = seat_holders(old.id)
        room = None if merged["unlimited_seats"] else int(merged["seat_limit"] or 0)
        preview.fit = holders if room is None else holders[:room]
        preview.left_out = [] if room is None else holders[room:]
    if deactivate:
        count = select(func.count(EnrollmentCode.id)).where(_unused_codes(old.id))
        preview.codes_to_deactivate = int(db.session.scalar(count) or 0)
    plan_codes(preview, len(preview.fit))
    preview.fingerprint = _fingerprint(preview)
    return preview


def renewal_preview(
    contract_id: int,
    values: Mapping[str, Any] | None = None,
    *,
    carry_over: bool = True,
    deactivate_old_codes: bool = False,
) -> RenewalPreview:
    """What renewing the contract with these values (the defaults for the rest) would create,
    who carries over and who does not fit, and how many codes would be deactivated. Writes
    nothing; refuses what ``renew_contract`` would refuse."""
    return _preview(existing(Contract, contract_id), values, carry_over, deactivate_old_codes)


def renew_contract(
    contract_id: int,
    values: Mapping[str, Any] | None,
    *,
    carry_over: bool,
    deactivate_old_codes: bool,
    expect: str | None = None,
) -> Contract:
    """Renew the contract: the new contract, its courseware, the carried seats, the old codes
    deactivated, the new codes, and ``contract.renewed`` on both contracts. With ``expect`` (the
    preview's fingerprint) it refuses when what the preview showed has changed. The caller
    commits; a second renewal of the contract is a ``Conflict``."""
    old = lock_contract(contract_id)
    preview = _preview(old, values, carry_over, deactivate_old_codes)
    if expect is not None and expect != preview.fingerprint:
        raise PreviewOutdated(
            f"{old.name} changed since the preview (seat holders, codes or courseware): nothing "
            "was created. Check the new preview and confirm again."
        )
    new = _create_contract(preview.organization, {**preview.values, "renewed_from_id": old.id})
    runs = add_courseware(new.id, preview.courseware)
    new = lock_contract(new.id)
    carried, left_out = _carry_over(new, [*preview.fit, *preview.left_out])
    deactivated = _deactivate_unused_codes(old, new) if deactivate_old_codes else 0
    sync_seat_codes(new)
    summary = {
        "carried_over": [h.user_id for h in carried],
        "left_out": [h.user_id for h in left_out],
        "codes_deactivated": deactivated,
        "runs": [run.course_key for run in runs],
        "without_source_run": [c.key for c in preview.courseware.without_source],
    }
    audit_contract(
        "contract.renewed", old, {"renewed_as": new.id, **summary}, before={"renewal": None}
    )
    audit_contract("contract.renewed", new, {"renewed_from": old.id, **summary})
    return new


def renewal_summary(contract_id: int) -> dict[str, Any]:
    """What the renewal that made ``contract_id`` did (its ``contract.renewed`` event): who was
    carried over and left out, how many codes were deactivated, the runs made."""
    after = db.session.scalar(
        select(AuditEvent.after)
        .where(
            AuditEvent.action == "contract.renewed",
            AuditEvent.object_type == "contract",
            AuditEvent.object_id == str(contract_id),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return dict(after or {})
