"""Revoking a learner's seat (b2b-rules section 6): seats are freed only by an explicit revoke by
staff or an org admin, recorded with actor and reason.

Revoking ends the learner's enrollments in the contract's runs (here at once, in edX by a job) so
one seat never serves two people, cancels their pending orders for it (b2b-rules section 10), and
on a seat-limited code contract a fresh one-time code stands for the freed seat. Org admins may revoke only where the contract allows it; seats of ``auto``
contracts come with SSO membership and are not revoked here (remove the membership instead).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.core.domain_errors import Conflict, DomainError, NotFound
from portal.core.text import count_text
from portal.core.text import lazy_gettext as _l
from portal.extensions import db
from portal.models import Contract, Enrollment, MembershipType, Seat, User, utcnow
from portal.services import seat_codes as code_service
from portal.services.audit import record_event
from portal.services.enrollment import deactivate_enrollment
from portal.services.locks import lock_contract
from portal.services.orders import close_pending_orders

MAX_REASON = 500


class RevokeRefused(DomainError):
    code = "seat_revoke_refused"
    status = 403


@dataclass
class SeatRevocation:
    seat: Seat
    enrollments_ended: int
    codes_added: int


def seat_for(contract: Contract, seat_id: int) -> Seat:
    seat = db.session.scalar(
        select(Seat).where(Seat.id == seat_id, Seat.contract_id == contract.id)
    )
    if seat is None:
        raise NotFound(_("That learner has no seat on this contract."))
    return seat


def active_enrollments(seat: Seat) -> list[Enrollment]:
    return list(
        db.session.scalars(
            select(Enrollment)
            .options(joinedload(Enrollment.course_run))
            .where(
                Enrollment.user_id == seat.user_id,
                Enrollment.contract_id == seat.contract_id,
                Enrollment.active.is_(True),
            )
        )
    )


# Why the learners table offers no "Revoke seat…" on a row, in a few words (``revoke_note``).
SSO_SEAT_NOTE = _l("SSO seat: it ends when they leave the organization")
STAFF_ONLY_NOTE = _l("Only the portal's staff revoke seats on this contract")


def revoke_note(
    membership_type: MembershipType, seat_revoke_allowed: bool, *, by_staff: bool
) -> str | None:
    """Why a seat on a contract of this kind cannot be revoked by this viewer, for the learners
    table to say instead of offering a link that would be refused; None when it can. The same
    rules as ``check_revocable``."""
    if membership_type is MembershipType.AUTO:
        return str(SSO_SEAT_NOTE)
    if not by_staff and not seat_revoke_allowed:
        return str(STAFF_ONLY_NOTE)
    return None


def check_revocable(contract: Contract, *, by_staff: bool) -> None:
    if contract.membership_type is MembershipType.AUTO:
        leave = (
            _("Remove them from the organization instead.")
            if by_staff
            else _(
                "The seat ends when they leave the organization in your single sign-on; the "
                "portal's staff can also remove them from the organization."
            )
        )
        raise RevokeRefused(
            _(
                "Seats on %(contract)s come with membership of the organization (SSO): the "
                "learner would get the seat back at their next enrollment. %(instead)s",
                contract=contract.name,
                instead=leave,
            )
        )
    if not by_staff and not contract.seat_revoke_allowed:
        raise RevokeRefused(
            _(
                "%(contract)s does not let organization admins revoke seats. Ask the portal's "
                "staff to revoke this seat.",
                contract=contract.name,
            )
        )


def revoke_seat(contract_id: int, seat_id: int, reason: str, *, actor: User) -> SeatRevocation:
    """Revoke one seat with a reason; the caller commits."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give a reason: it is recorded with the revocation."))
    if len(reason) > MAX_REASON:
        raise DomainError(
            _("Keep the reason under %(max)s characters.", max=count_text(MAX_REASON))
        )
    contract = lock_contract(contract_id)
    check_revocable(contract, by_staff=actor.is_staff)
    seat = seat_for(contract, seat_id)
    if seat.revoked_at is not None:
        raise Conflict(_("That seat was already revoked."))
    seat.revoked_at = utcnow()
    seat.revoked_by_id = actor.id
    seat.revoke_reason = reason
    ended = 0
    for enrollment in active_enrollments(seat):
        deactivate_enrollment(
            enrollment, organization_id=contract.organization_id, reason="seat revoked"
        )
        ended += 1
    # Their open orders for the contract close too: a payment arriving later enrolls nobody.
    close_pending_orders(
        contract_id=contract.id, user_id=seat.user_id, reason="the learner's seat was revoked"
    )
    db.session.flush()
    record_event(
        "seat.revoked",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        before={"user_id": seat.user_id, "source": seat.source.value},
        after={"user_id": seat.user_id, "seat_id": seat.id, "enrollments_ended": ended},
        reason=reason,
    )
    change = code_service.adjust_seat_codes(contract, add_limit=code_service.INLINE_MAX)
    return SeatRevocation(seat, ended, change.added)
