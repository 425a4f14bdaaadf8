"""Creating and changing contracts (b2b-rules sections 1.3, 3, 5 and 6).

Every change locks the contract row (``lock_contract``), checks the rules inside the lock, writes an
audit event with the values before and after, and flushes; the caller commits. Refusals are
``DomainError``s whose message says what is wrong and what to do instead:

* the contract must end after it starts;
* seats are limited by a number >= 0 or explicitly unlimited, never 0-means-unlimited;
* the seat limit may not go below the seats already claimed (section 6);
* the price per learner may not be negative.

Changing the membership type or the seat limit changes who has access or which codes exist, so both
have a preview (``membership_change_preview``, ``seat_change_preview``) that the staff pages show
before the change is confirmed. So do the dates and the active flag (``schedule_change_preview``):
they move the contract runs' dates and enrollment windows, which ``update_contract`` and
``set_active`` apply through ``contract_run_schedule.sync_contract_runs`` (locally, and in edX by a job per
run).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import ngettext
from sqlalchemy import Select, and_, func, select

from portal.core.domain_errors import DomainError
from portal.core.text import plural
from portal.extensions import db
from portal.models import (
    Contract,
    MembershipType,
    Organization,
    User,
)
from portal.services import contract_run_schedule as run_service
from portal.services import seat_codes as code_service
from portal.services.access import holds_access
from portal.services.audit import record_event
from portal.services.locks import lock_contract
from portal.services.orders import close_pending_orders
from portal.services.seats import claimed_count

SAMPLE_SIZE = 10
MAX_SEAT_LIMIT = 1_000_000
EDITABLE = (
    "name",
    "slug",
    "description",
    "welcome_message",
    "start_at",
    "end_at",
    "price_per_learner",
    "seat_revoke_allowed",
)
# Changing these (or ``active``) changes the contract runs' dates, here and in edX (b2b-rules 10).
SCHEDULE_FIELDS = ("start_at", "end_at")


class ContractInvalid(DomainError):
    code = "contract_invalid"


def snapshot(contract: Contract) -> dict[str, Any]:
    """The contract's values as JSON-safe data, for audit events."""

    def plain(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        if hasattr(value, "value"):
            return value.value
        return value

    names = (*EDITABLE, "membership_type", "active", "unlimited_seats", "seat_limit")
    return {name: plain(getattr(contract, name)) for name in names}


def _changes(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def check_dates(start_at: dt.datetime | None, end_at: dt.datetime | None) -> None:
    if start_at and end_at and end_at <= start_at:
        raise ContractInvalid(
            f"The contract must end after it starts: it starts {start_at:%d %b %Y %H:%M} UTC "
            f"but ends {end_at:%d %b %Y %H:%M} UTC."
        )


def check_price(price: Decimal | None) -> None:
    if price is not None and price < 0:
        raise ContractInvalid(
            "The price per learner can't be negative; enter 0 or leave it empty for a free contract."
        )


def check_seats(unlimited: bool, seat_limit: int | None, claimed: int) -> None:
    if unlimited:
        if seat_limit is not None:
            raise ContractInvalid("Either tick 'unlimited seats' or enter a seat limit, not both.")
        return
    if seat_limit is None:
        raise ContractInvalid(
            "Enter a seat limit, or tick 'unlimited seats' (0 means no seats, not unlimited)."
        )
    if seat_limit < 0 or seat_limit > MAX_SEAT_LIMIT:
        raise ContractInvalid(f"The seat limit must be between 0 and {MAX_SEAT_LIMIT:,}.")
    if seat_limit < claimed:
        raise ContractInvalid(
            plural(
                claimed,
                "%(num)s seat is already claimed, so the limit can't go below %(lowest)s. "
                "Revoke seats first if the organization bought fewer.",
                "%(num)s seats are already claimed, so the limit can't go below %(lowest)s. "
                "Revoke seats first if the organization bought fewer.",
                lowest=claimed,
            )
        )


def create_contract(organization: Organization, values: dict[str, Any]) -> Contract:
    """Create a contract under ``organization``; a seat-limited code/managed (or paid) contract then
    gets its seat codes through ``seat_codes.adjust_seat_codes`` (called by the caller, which decides
    whether the codes are made now or by a job)."""
    check_dates(values.get("start_at"), values.get("end_at"))
    check_price(values.get("price_per_learner"))
    check_seats(bool(values.get("unlimited_seats")), values.get("seat_limit"), 0)
    contract = Contract(organization_id=organization.id, **values)
    db.session.add(contract)
    db.session.flush()
    record_event(
        "contract.created",
        "contract",
        contract.id,
        organization_id=organization.id,
        after=snapshot(contract),
    )
    return contract


def update_contract(contract_id: int, values: dict[str, Any]) -> Contract:
    """Change the contract's descriptive fields, dates, price and revoke setting."""
    contract = lock_contract(contract_id)
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ContractInvalid(f"These fields can't be changed here: {', '.join(sorted(unknown))}.")
    check_dates(values.get("start_at"), values.get("end_at"))
    check_price(values.get("price_per_learner"))
    before = snapshot(contract)
    for name, value in values.items():
        setattr(contract, name, value)
    db.session.flush()
    old, new = _changes(before, snapshot(contract))
    record_event(
        "contract.updated",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        before=old,
        after=new,
    )
    if set(new) & set(SCHEDULE_FIELDS):
        run_service.sync_contract_runs(contract)  # b2b-rules 10: the runs and edX follow
    close_pending_orders(contract_id=contract.id, when_not_live=True)  # ended: b2b-rules 10
    return contract


def set_active(contract_id: int, active: bool) -> Contract:
    """Deactivate (no new access, no new enrollments) or reactivate a contract."""
    contract = lock_contract(contract_id)
    if contract.active == active:
        raise DomainError(
            f"{contract.name} is already {'active' if active else 'inactive'}.", code="unchanged"
        )
    contract.active = active
    record_event(
        "contract.reactivated" if active else "contract.deactivated",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        before={"active": not active},
        after={"active": active},
    )
    run_service.sync_contract_runs(contract)  # deactivating closes enrollment in its runs
    close_pending_orders(contract_id=contract.id, when_not_live=True)  # b2b-rules 10
    return contract


def dates_change(contract: Contract, values: dict[str, Any]) -> bool:
    """Whether an edit changes the contract's dates (the edit then shows a preview first)."""
    return any(
        name in values and values[name] != getattr(contract, name) for name in SCHEDULE_FIELDS
    )


def schedule_change_preview(
    contract: Contract, values: dict[str, Any] | None = None, *, active: bool | None = None
) -> run_service.ScheduleImpact:
    """What saving these dates (or this active flag) does: the runs whose dates or enrollment
    window change, their active enrollments (kept) and the contract's pending orders."""
    values = values or {}
    return run_service.schedule_impact(
        contract,
        start_at=values.get("start_at", contract.start_at),
        end_at=values.get("end_at", contract.end_at),
        active=contract.active if active is None else active,
    )


# --------------------------------------------------------------------------- who has access


def access_query(contract: Contract, membership_type: MembershipType) -> Select[Any]:
    """Ids of the users who would hold access to ``contract`` under ``membership_type``
    (``services.access.holds_access``; dates and active flags apply the same to every type)."""
    return select(User.id).where(
        holds_access(
            User.id, contract.id, contract.organization_id, membership_type, contract.is_paid
        )
    )


@dataclass
class AccessChange:
    count: int
    sample: list[str]


@dataclass
class MembershipPreview:
    current: MembershipType
    new: MembershipType
    gain: AccessChange
    lose: AccessChange
    codes_to_add: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return self.current is not self.new


def _who(ids: Select[Any], without: Select[Any]) -> AccessChange:
    where = and_(User.id.in_(ids), User.id.not_in(without))
    count = db.session.scalar(select(func.count(User.id)).where(where)) or 0
    sample = list(
        db.session.scalars(select(User.email).where(where).order_by(User.email).limit(SAMPLE_SIZE))
    )
    return AccessChange(int(count), sample)


def membership_change_preview(contract: Contract, new_type: MembershipType) -> MembershipPreview:
    """Who gains and who loses access if ``contract`` becomes ``new_type`` (counts and a sample).

    E.g. auto -> code: members without a seat lose access; code -> auto: every member gains it;
    code -> managed: seat holders without an SSO membership lose it (managed needs both).
    """
    current = contract.membership_type
    if new_type is current:
        empty = AccessChange(0, [])
        return MembershipPreview(current, new_type, empty, empty)
    old_ids = access_query(contract, current)
    new_ids = access_query(contract, new_type)
    preview = MembershipPreview(
        current, new_type, gain=_who(new_ids, old_ids), lose=_who(old_ids, new_ids)
    )
    plan = code_service.seat_code_plan(contract, membership_type=new_type)
    preview.codes_to_add = plan.to_add
    if new_type is MembershipType.AUTO:
        preview.notes.append(
            "Members get access at sign-in without a code; existing codes keep working."
        )
    elif current is MembershipType.AUTO:
        preview.notes.append("From now on a learner needs a code (and a seat) to get access.")
    if new_type is MembershipType.MANAGED:
        preview.notes.append(
            "Managed contracts need both a code and a membership through the organization's own "
            "sign-in (b2b-rules 3)."
        )
    if plan.unlimited_code_needed:
        preview.notes.append(
            "The contract has unlimited seats, so it gets one multi-use code: anyone who gets hold "
            "of that code can join."
        )
    return preview


def change_membership_type(contract_id: int, new_type: MembershipType) -> MembershipPreview:
    """Switch the membership type; the preview's counts are recorded in the audit event."""
    contract = lock_contract(contract_id)
    if contract.membership_type is new_type:
        raise DomainError(
            f"{contract.name} is already a {new_type.value} contract.", code="unchanged"
        )
    preview = membership_change_preview(contract, new_type)
    before = contract.membership_type
    contract.membership_type = new_type
    db.session.flush()
    record_event(
        "contract.membership_changed",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        before={"membership_type": before.value},
        after={
            "membership_type": new_type.value,
            "gained_access": preview.gain.count,
            "lost_access": preview.lose.count,
        },
    )
    return preview


# --------------------------------------------------------------------------- seats


@dataclass
class SeatPreview:
    claimed: int
    current_limit: int | None
    new_limit: int | None
    plan: code_service.SeatCodePlan
    problem: str = ""

    @property
    def allowed(self) -> bool:
        return not self.problem


def seat_change_preview(contract: Contract, new_limit: int | None) -> SeatPreview:
    """What changing the seat limit to ``new_limit`` (None: unlimited) does to the contract's codes,
    and whether it is allowed. Lowering removes unused, unassigned seat codes newest first; if there
    are not enough of those the change is refused as a whole (nothing is half-done), and the
    preview names the lowest limit that would work."""
    claimed = claimed_count(contract.id)
    plan = code_service.seat_code_plan(contract, seat_limit=new_limit, unlimited=new_limit is None)
    current = None if contract.unlimited_seats else contract.seat_limit
    preview = SeatPreview(claimed, current, new_limit, plan)
    try:
        check_seats(new_limit is None, new_limit, claimed)
    except ContractInvalid as exc:
        preview.problem = exc.message
        return preview
    if plan.to_remove > plan.removable:
        lowest = max(claimed, plan.live - plan.removable)
        preview.problem = ngettext(
            "Lowering the limit to %(limit)s means removing %(codes)s, but only %(num)s is unused "
            "and unassigned; used or assigned codes are never removed. The lowest limit possible "
            "now is %(lowest)s.",
            "Lowering the limit to %(limit)s means removing %(codes)s, but only %(num)s are unused "
            "and unassigned; used or assigned codes are never removed. The lowest limit possible "
            "now is %(lowest)s.",
            plan.removable,
            limit=new_limit,
            codes=plural(plan.to_remove, "%(num)s seat code", "%(num)s seat codes"),
            lowest=lowest,
        )
    return preview


def change_seat_limit(contract_id: int, new_limit: int | None) -> SeatPreview:
    """Set the seat limit (None: unlimited) and remove surplus seat codes. Adding codes is left to
    the caller (``seat_codes.adjust_seat_codes`` now, or the ``codes.generate`` job for many)."""
    contract = lock_contract(contract_id)
    preview = seat_change_preview(contract, new_limit)
    if not preview.allowed:
        raise ContractInvalid(preview.problem)
    before = {"unlimited_seats": contract.unlimited_seats, "seat_limit": contract.seat_limit}
    contract.unlimited_seats = new_limit is None
    contract.seat_limit = new_limit
    db.session.flush()
    record_event(
        "contract.seats_changed",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        before=before,
        after={
            "unlimited_seats": contract.unlimited_seats,
            "seat_limit": contract.seat_limit,
            "claimed": preview.claimed,
        },
    )
    return preview
