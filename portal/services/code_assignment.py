"""Org admins hand out codes by email (b2b-rules sections 1.5 and 9): assign an unused one-time code
to an address and send the invitation with its redeem link, remind, or revoke an unused assignment.

Assignments run under the contract's row lock, so two admins assigning at once never hand out the
same code or assign one address twice. Revoking an assignment deactivates the code (its link stops
working) and puts an identical fresh code in its place, so the contract keeps as many usable codes.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, func, or_, select

from portal.core.domain_errors import Conflict, DomainError, NotFound
from portal.core.text import count_text, group_code, long_date, plural
from portal.core.text import lazy_gettext as _l
from portal.extensions import db
from portal.models import (
    Contract,
    EnrollmentCode,
    MembershipType,
    Organization,
    RedemptionType,
    Seat,
    User,
    utcnow,
)
from portal.models.contracts import NotLive
from portal.services.audit import record_event
from portal.services.codes import new_code
from portal.services.locks import lock_contract
from portal.services.mail import queue_email
from portal.services.notice_mail import render_email
from portal.services.seat_codes import needs_seat_codes

MAX_BULK = 1000
INVITATION_TEMPLATE = "invitation"
REMIND_INTERVAL = dt.timedelta(hours=1)


class AssignOutcome(enum.StrEnum):
    ASSIGNED = "assigned"
    ALREADY_ASSIGNED = "already_assigned"
    HAS_SEAT = "already_has_seat"
    INVALID_EMAIL = "invalid_email"
    NO_CODES_LEFT = "no_codes_left"


OUTCOME_LABELS = {
    AssignOutcome.ASSIGNED: _l("Assigned, invitation sent"),
    AssignOutcome.ALREADY_ASSIGNED: _l("Already assigned"),
    AssignOutcome.HAS_SEAT: _l("Already has a seat"),
    AssignOutcome.INVALID_EMAIL: _l("Invalid email"),
    AssignOutcome.NO_CODES_LEFT: _l("No codes left"),
}
# Why a row was not assigned. A bulk assignment's job stores its rows' outcomes (in English, as a
# job speaks), and the page words each outcome in its reader's language from here.
OUTCOME_DETAILS = {
    AssignOutcome.ALREADY_ASSIGNED: _l(
        "An unused code of this contract is already assigned to this address."
    ),
    AssignOutcome.HAS_SEAT: _l("This person already holds a seat on the contract."),
    AssignOutcome.INVALID_EMAIL: _l("Not an email address."),
    AssignOutcome.NO_CODES_LEFT: _l("Every code of this contract is used or assigned."),
}


@dataclass
class AssignResult:
    line: int
    given: str
    email: str
    outcome: AssignOutcome
    detail: str = ""
    code: str = ""

    @property
    def label(self) -> str:
        return str(OUTCOME_LABELS[self.outcome])

    def refuse(self, outcome: AssignOutcome) -> None:
        """Give the row an outcome other than ``ASSIGNED``, with its reason."""
        self.outcome = outcome
        self.detail = str(OUTCOME_DETAILS[outcome])


class AssignRefused(DomainError):
    code = "assign_refused"
    status = 409


def check_assignable(contract: Contract, org: Organization) -> None:
    """Codes can be handed out only on a contract entered with codes that is live now: started,
    not ended, and active with its organization (``Contract.not_live_reason``, b2b-rules 3)."""
    if not needs_seat_codes(contract.membership_type, contract.is_paid):
        raise AssignRefused(
            _(
                "%(contract)s needs no codes: %(organization)s members get access by signing in "
                "with %(organization)s's own account.",
                contract=contract.name,
                organization=org.name,
            )
        )
    reason = contract.not_live_reason(utcnow(), org)
    if reason is NotLive.NOT_STARTED:
        raise AssignRefused(
            _(
                "%(contract)s starts on %(date)s, so its codes cannot be handed out yet.",
                contract=contract.name,
                date=long_date(contract.start_at),
            )
        )
    if reason is NotLive.ENDED:
        raise AssignRefused(
            _("%(contract)s has ended, so its codes cannot be handed out.", contract=contract.name)
        )
    if reason is not None:
        raise AssignRefused(
            _(
                "%(contract)s is not active, so its codes cannot be handed out.",
                contract=contract.name,
            )
        )


def _fresh() -> list[ColumnElement[bool]]:
    return [EnrollmentCode.deactivated_at.is_(None), EnrollmentCode.times_redeemed == 0]


def assignable_filter(contract_id: int) -> ColumnElement[bool]:
    """Unused, unassigned, active one-time codes that have not expired."""
    return and_(
        EnrollmentCode.contract_id == contract_id,
        EnrollmentCode.redemption_type == RedemptionType.ONE_TIME,
        EnrollmentCode.assigned_email.is_(None),
        or_(EnrollmentCode.expires_at.is_(None), EnrollmentCode.expires_at > utcnow()),
        *_fresh(),
    )


def assignable_count(contract: Contract) -> int:
    return int(
        db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(assignable_filter(contract.id))
        )
        or 0
    )


def normalize_address(raw: str) -> str | None:
    """A deliverable-looking address, lower-cased; None when it is not an email address."""
    text = (raw or "").strip()
    if not text or len(text) > 254 or any(ch in text for ch in "\r\n\t,;<>\"'"):
        return None
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def invitation(
    code: EnrollmentCode, contract: Contract, org: Organization, base_url: str, *, reminder: bool
) -> dict[str, Any]:
    """The values of the invitation email of an assigned code (or its reminder):
    ``templates/email/<INVITATION_TEMPLATE>.subject.txt``, ``.txt`` and ``.html``, written in the
    reader's language by ``notice_mail.render_email``. The scheduled reminders
    (``services.code_reminders``) send the same email."""
    link = f"{base_url.rstrip('/')}/redeem/{code.code}"
    values: dict[str, Any] = {
        "code": code.code,
        "link": link,
        "contract": contract,
        "organization": org,
        "reminder": reminder,
        "managed": contract.membership_type is MembershipType.MANAGED,
        "expires_at": code.expires_at,
        "email": code.assigned_email,
    }
    return values


def _send(
    code: EnrollmentCode, contract: Contract, org: Organization, base_url: str, *, reminder: bool
) -> None:
    address = code.assigned_email or ""
    values = invitation(code, contract, org, base_url, reminder=reminder)
    subject, text, html = render_email(INVITATION_TEMPLATE, address, values)
    queue_email(address, subject, text, body_html=html, organization_id=org.id)


def check_bulk_size(addresses: Sequence[str]) -> None:
    if len(addresses) > MAX_BULK:
        raise DomainError(
            _("Assign at most %(num)s addresses at a time.", num=count_text(MAX_BULK))
        )


def assign_codes(
    contract_id: int,
    addresses: Sequence[str],
    *,
    actor: User,
    base_url: str,
    lines: Sequence[int] | None = None,
) -> list[AssignResult]:
    """Assign one code per address, in order, and queue each invitation; the caller commits.

    Every address gets its own result: assigned, already assigned (an unused code of this contract
    is assigned to it, or it appeared earlier in the list), already has a seat, invalid email, or
    no codes left. Nothing is written for rows that are not assigned. ``lines`` numbers the
    results (default 1, 2, ...): a bulk assignment's job hands over its file a chunk at a time.
    """
    check_bulk_size(addresses)
    contract = lock_contract(contract_id)
    org = db.session.get(Organization, contract.organization_id)
    assert org is not None
    check_assignable(contract, org)
    numbers = lines if lines is not None else range(1, len(addresses) + 1)
    results = [
        AssignResult(n, given, normalize_address(given) or "", AssignOutcome.ASSIGNED)
        for n, given in zip(numbers, addresses, strict=True)
    ]
    wanted = _screen(contract, results)
    _hand_out(contract, org, wanted, actor=actor, base_url=base_url)
    db.session.flush()
    _record_assigned(contract, org, results, actor)
    return results


def _assigned_emails(contract: Contract, emails: set[str]) -> set[str]:
    """Which of ``emails`` hold an unused code of the contract already."""
    if not emails:
        return set()
    return set(
        db.session.scalars(
            select(EnrollmentCode.assigned_email).where(
                EnrollmentCode.contract_id == contract.id,
                EnrollmentCode.assigned_email.in_(emails),
                *_fresh(),
            )
        )
    )


def _seated_emails(contract: Contract, emails: set[str]) -> set[str]:
    """Which of ``emails`` belong to someone holding a seat on the contract."""
    if not emails:
        return set()
    return set(
        db.session.scalars(
            select(User.email)
            .join(Seat, Seat.user_id == User.id)
            .where(
                Seat.contract_id == contract.id,
                Seat.revoked_at.is_(None),
                User.email.in_(emails),
            )
        )
    )


def _screen(contract: Contract, results: list[AssignResult]) -> list[AssignResult]:
    """Give each result that cannot be assigned its outcome; returns the rest, in order."""
    emails = {r.email for r in results if r.email}
    assigned = _assigned_emails(contract, emails)
    seated = _seated_emails(contract, emails)
    wanted: list[AssignResult] = []
    for result in results:
        if not result.email:
            result.refuse(AssignOutcome.INVALID_EMAIL)
        elif result.email in seated:
            result.refuse(AssignOutcome.HAS_SEAT)
        elif result.email in assigned:
            result.refuse(AssignOutcome.ALREADY_ASSIGNED)
        else:
            assigned.add(result.email)
            wanted.append(result)
    return wanted


def _hand_out(
    contract: Contract,
    org: Organization,
    wanted: list[AssignResult],
    *,
    actor: User,
    base_url: str,
) -> None:
    """Assign a free code (seat codes first, oldest first) to each wanted address and queue its
    invitation; the addresses left over get ``NO_CODES_LEFT``."""
    codes = (
        list(
            db.session.scalars(
                select(EnrollmentCode)
                .where(assignable_filter(contract.id))
                .order_by(EnrollmentCode.for_seat.desc(), EnrollmentCode.id)
                .limit(len(wanted))
                .with_for_update(skip_locked=True)
            )
        )
        if wanted
        else []
    )
    now = utcnow()
    for result, code in zip(wanted, codes, strict=False):
        code.assigned_email = result.email
        code.assigned_at = now
        code.assigned_by_id = actor.id
        code.reminded_at = None
        result.code = code.code
        _send(code, contract, org, base_url, reminder=False)
    for result in wanted[len(codes) :]:
        result.refuse(AssignOutcome.NO_CODES_LEFT)


def _record_assigned(
    contract: Contract, org: Organization, results: list[AssignResult], actor: User
) -> None:
    done = [r for r in results if r.outcome is AssignOutcome.ASSIGNED]
    if done:
        record_event(
            "code.assigned",
            "contract",
            contract.id,
            organization_id=org.id,
            actor_id=actor.id,  # the admin who asked, also when a job assigns for them
            after={
                "count": len(done),
                "assignments": [{"email": r.email, "code": r.code} for r in done[:100]],
            },
        )


def _assigned_code(contract: Contract, code_id: int) -> EnrollmentCode:
    code = db.session.scalar(
        select(EnrollmentCode)
        .where(EnrollmentCode.id == code_id, EnrollmentCode.contract_id == contract.id)
        .with_for_update()
    )
    if code is None:
        raise NotFound(_("That code is not on this contract."))
    grouped = group_code(code.code)
    if code.assigned_email is None:
        raise Conflict(_("Code %(code)s is not assigned to anyone.", code=grouped))
    if code.times_redeemed > 0:
        raise Conflict(
            _("%(email)s has already used code %(code)s.", email=code.assigned_email, code=grouped)
        )
    if code.deactivated_at is not None:
        raise Conflict(_("Code %(code)s is deactivated.", code=grouped))
    return code


def remind(contract_id: int, code_id: int, *, base_url: str) -> EnrollmentCode:
    """Send the invitation again, at most once an hour per code."""
    contract = lock_contract(contract_id)
    org = db.session.get(Organization, contract.organization_id)
    assert org is not None
    check_assignable(contract, org)
    code = _assigned_code(contract, code_id)
    now = utcnow()
    last = (
        max(t for t in (code.assigned_at, code.reminded_at) if t is not None)
        if (code.assigned_at or code.reminded_at)
        else None
    )
    if last is not None and now - last < REMIND_INTERVAL:
        minutes = int((REMIND_INTERVAL - (now - last)).total_seconds() // 60) + 1
        raise Conflict(
            plural(
                minutes,
                "%(email)s was sent this code less than an hour ago. You can remind them again in "
                "%(num)s minute.",
                "%(email)s was sent this code less than an hour ago. You can remind them again in "
                "%(num)s minutes.",
                email=code.assigned_email,
            )
        )
    code.reminded_at = now
    _send(code, contract, org, base_url, reminder=True)
    record_event(
        "code.reminded",
        "enrollment_code",
        code.id,
        organization_id=org.id,
        after={"email": code.assigned_email},
    )
    return code


def revoke_assignment(contract_id: int, code_id: int) -> tuple[EnrollmentCode, EnrollmentCode]:
    """Deactivate an assigned, unused code (its link stops working) and add an unassigned
    replacement with the same terms. Returns (old, new)."""
    contract = lock_contract(contract_id)
    code = _assigned_code(contract, code_id)
    now = utcnow()
    code.deactivated_at = now
    replacement = EnrollmentCode(
        code=new_code(),
        contract_id=contract.id,
        redemption_type=code.redemption_type,
        max_uses=code.max_uses,
        times_redeemed=0,
        activates_at=code.activates_at,
        expires_at=code.expires_at,
        discount_percent=code.discount_percent,
        discount_amount=code.discount_amount,
        for_seat=code.for_seat,
        batch=code.batch,
        created_at=now,
    )
    db.session.add(replacement)
    db.session.flush()
    record_event(
        "code.assignment_revoked",
        "enrollment_code",
        code.id,
        organization_id=contract.organization_id,
        before={"code": code.code, "assigned_email": code.assigned_email},
        after={"deactivated_at": now.isoformat(), "replacement_code_id": replacement.id},
    )
    return code, replacement
