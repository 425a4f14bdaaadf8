"""Redeeming an enrollment code (b2b-rules sections 3, 5 and 6).

Each refusal has its own reason code (recorded in the audit log) and a message that names the next
step. The code row and then the contract row are locked, so use counts and the seat limit hold under
parallel requests; the unique (code, learner) and (contract, learner) constraints back them up.
Redeeming again for a contract one already has is a success that uses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from portal.core.domain_errors import DomainError
from portal.core.text import all_seats_taken, long_date, plural
from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import (
    CodeRedemption,
    Contract,
    EnrollmentCode,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    RedemptionType,
    SeatSource,
    User,
    normalize_email,
    utcnow,
)
from portal.models.contracts import NotLive
from portal.services.audit import record_event
from portal.services.codes import CODE_ALPHABET, normalize_code
from portal.services.locks import lock_contract
from portal.services.seats import ContractFull, active_seat, claim_seat


class RedemptionRefused(DomainError):
    status = 400


def refuse(code: str, message: str, status: int = 400) -> RedemptionRefused:
    error = RedemptionRefused(message, code=code)
    error.status = status
    return error


@dataclass
class Redeemed:
    contract: Contract
    organization: Organization
    already_had: bool


# What a learner is told when a contract gives no new access, by reason (b2b-rules 3).
_NOT_LIVE: dict[NotLive, Callable[[Contract, Organization], str]] = {
    NotLive.ORGANIZATION_INACTIVE: lambda contract, org: _(
        "%(organization)s's access is not active at the moment. Contact your organization's admin.",
        organization=org.name,
    ),
    NotLive.CONTRACT_INACTIVE: lambda contract, org: _(
        "%(contract)s is not active at the moment. Contact %(organization)s's admin.",
        contract=contract.name,
        organization=org.name,
    ),
    NotLive.NOT_STARTED: lambda contract, org: _(
        "%(contract)s starts on %(date)s. Come back then.",
        contract=contract.name,
        date=long_date(contract.start_at),
    ),
    NotLive.ENDED: lambda contract, org: _(
        "%(contract)s ended on %(date)s. Ask %(organization)s's admin whether it will be renewed.",
        contract=contract.name,
        date=long_date(contract.end_at),
        organization=org.name,
    ),
}


def contract_gate(contract: Contract, org: Organization) -> None:
    """Dates and active flags gate everything, each with its exact reason (b2b-rules 3): the
    reason is ``Contract.not_live_reason``, the rule ``services.access`` applies in SQL."""
    reason = contract.not_live_reason(utcnow(), org)
    if reason is not None:
        raise refuse(reason.value, _NOT_LIVE[reason](contract, org), 403)


def redeem(user: User, raw_code: str) -> Redeemed:
    """Redeem ``raw_code`` for ``user``: the code's own checks, the contract's gate, whether this
    person may use it, then the redemption and the seat. Locks the code row, then the contract."""
    code = _find_code(raw_code)
    contract = lock_contract(code.contract_id)
    org = db.session.get(Organization, contract.organization_id)
    assert org is not None
    if active_seat(contract.id, user.id) is not None:
        return Redeemed(contract, org, already_had=True)
    check_code_usable(code, org)
    contract_gate(contract, org)
    membership = db.session.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organization_id == org.id
        )
    )
    check_may_use(user, code, contract, org, membership)
    _claim(user, code, contract, org, membership)
    return Redeemed(contract, org, already_had=False)


def _find_code(raw_code: str) -> EnrollmentCode:
    """The code as typed (normalized), its row locked; refused as unknown when it is not ours."""
    value = normalize_code(raw_code or "")
    if not value:  # nothing typed (or only spaces and dashes)
        raise refuse(
            "no_code",
            _(
                "Enter a code: the letters and digits your organization gave you, with or "
                "without the dashes."
            ),
            400,
        )
    if len(value) > 64 or any(ch not in CODE_ALPHABET + "0O1IL" for ch in value):
        raise refuse(
            "unknown_code",
            _(
                "That is not a code we issue. Check it for typos (codes "
                "are letters and digits) and try again."
            ),
            404,
        )
    code = db.session.scalar(
        select(EnrollmentCode).where(EnrollmentCode.code == value).with_for_update()
    )
    if code is None:
        raise refuse(
            "unknown_code",
            _(
                "We don't know that code. Check it for typos, or ask whoever "
                "gave it to you for a new one."
            ),
            404,
        )
    return code


def check_code_usable(code: EnrollmentCode, org: Organization) -> None:
    """The code itself: not deactivated, and within its validity window."""
    now = utcnow()
    if code.deactivated_at is not None:
        raise refuse(
            "code_deactivated",
            _(
                "This code has been deactivated. Ask your "
                "organization's admin (%(organization)s) for a new one.",
                organization=org.name,
            ),
            410,
        )
    if code.activates_at and now < code.activates_at:
        raise refuse(
            "code_not_yet_valid",
            _(
                "This code becomes valid on %(date)s. Try again then.",
                date=long_date(code.activates_at),
            ),
            403,
        )
    if code.expires_at and now >= code.expires_at:
        raise refuse(
            "code_expired",
            _(
                "This code expired on %(date)s. Ask your "
                "organization's admin (%(organization)s) for a new one.",
                date=long_date(code.expires_at),
                organization=org.name,
            ),
            410,
        )


def check_may_use(
    user: User,
    code: EnrollmentCode,
    contract: Contract,
    org: Organization,
    membership: Membership | None,
) -> None:
    """This person and this code: an assigned code is its invitee's, a managed contract wants the
    organization's own sign-in, a code is used once per person, and not beyond its uses."""
    check_assigned_to(user, code, org)
    if contract.membership_type is MembershipType.MANAGED and (
        membership is None or not membership.through_sso
    ):
        raise refuse(
            "managed_needs_sso",
            _(
                "%(contract)s is for %(organization)s members who sign in "
                "with %(organization)s's own account. Sign out, then sign in through "
                "%(organization)s's single sign-on (not with a password) and enter the code "
                "again.",
                contract=contract.name,
                organization=org.name,
            ),
            403,
        )
    used_by_me = db.session.scalar(
        select(CodeRedemption.id).where(
            CodeRedemption.code_id == code.id, CodeRedemption.user_id == user.id
        )
    )
    if used_by_me is not None:
        raise refuse(
            "code_used_by_you",
            _(
                "You already used this code, and your seat on "
                "%(contract)s has since been revoked. Contact %(organization)s's admin.",
                contract=contract.name,
                organization=org.name,
            ),
            409,
        )
    if code.max_uses is not None and code.times_redeemed >= code.max_uses:
        raise refuse(
            "code_used",
            _(
                "This code has already been used by someone else. Ask %(organization)s's admin "
                "for your own code.",
                organization=org.name,
            )
            if code.redemption_type is RedemptionType.ONE_TIME
            else plural(
                code.max_uses,
                "This code has already been used the %(num)s time it allows. Ask "
                "%(organization)s's admin for your own code.",
                "This code has already been used the %(num)s times it allows. Ask "
                "%(organization)s's admin for your own code.",
                organization=org.name,
            ),
            409,
        )


def check_assigned_to(user: User, code: EnrollmentCode, org: Organization) -> None:
    """A code an org admin or staff assigned to an email address is that person's: only an
    account with that verified email redeems it (b2b-rules 10). Unassigned codes are bearer codes."""
    if code.assigned_email is None:
        return
    if normalize_email(user.email) != normalize_email(code.assigned_email):
        raise refuse(
            "code_assigned_to_other",
            _(
                "This code was sent to someone else, so it works only for them. If it was meant "
                "for you, ask %(organization)s's admin to send a code to your address "
                "(%(email)s).",
                organization=org.name,
                email=user.email,
            ),
            403,
        )
    if not user.email_verified:
        raise refuse(
            "code_assigned_email_unverified",
            _(
                "This code was sent to %(email)s, and the sign-in has not confirmed that "
                "address is yours yet. Confirm your email address with your sign-in provider, "
                "sign in again, and enter the code again.",
                email=user.email,
            ),
            403,
        )


def _claim(
    user: User,
    code: EnrollmentCode,
    contract: Contract,
    org: Organization,
    membership: Membership | None,
) -> None:
    """The redemption, the seat (refused when the contract is full), one more use of the code,
    the membership a redeemer gets, and the audit event."""
    redemption = CodeRedemption(code_id=code.id, user_id=user.id, contract_id=contract.id)
    db.session.add(redemption)
    db.session.flush()
    source = SeatSource.ASSIGNED if code.assigned_email else SeatSource.CODE
    try:
        claim_seat(contract, user, source, redemption_id=redemption.id)
    except ContractFull as exc:
        raise refuse(
            "contract_full",
            _(
                "%(contract)s is full: %(seats_taken)s. Ask %(organization)s's admin to add seats.",
                contract=contract.name,
                seats_taken=all_seats_taken(contract.seat_limit or 0),
                organization=org.name,
            ),
            409,
        ) from exc
    code.times_redeemed += 1
    if membership is None:
        _join(user, org)
    record_event(
        "code.redeemed",
        "enrollment_code",
        code.id,
        organization_id=org.id,
        after={"user_id": user.id, "contract_id": contract.id, "uses": code.times_redeemed},
    )


def _join(user: User, org: Organization) -> None:
    """The redeemer joins the organization, kept until Keycloak's claim confirms it (b2b-rules 2)."""
    db.session.add(
        Membership(
            user_id=user.id,
            organization_id=org.id,
            source=MembershipSource.CODE,
            keep_until_seen=True,
        )
    )
    if org.keycloak_id:
        record_job(
            JobKind.KEYCLOAK_PUSH_MEMBER,
            {"user_id": user.id, "organization_id": org.id},
            object_type="user",
            object_id=user.id,
            organization_id=org.id,
        )
