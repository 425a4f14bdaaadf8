"""Six weeks of seat claims on Acme's leadership contract, for the org admin's dashboard."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from portal.demo.common import get_or_create
from portal.extensions import db
from portal.models import (
    CodeRedemption,
    Contract,
    EnrollmentCode,
    Membership,
    MembershipSource,
    Seat,
    SeatSource,
    User,
)
from portal.services.seat_codes import adjust_seat_codes

SEAT_HISTORY = 20  # of the leadership contract's 25 seats, one revoked: 19 held, past 75%

DEMO_FIRST_NAMES = ["Anita", "Boris", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivo"]


def seed_seat_history(contract: Contract, now: dt.datetime) -> int:
    """Colleagues of Ada's who took seats on ``contract`` over the last four weeks (so the org
    admin's chart and alerts have something to show), one seat revoked with its reason, and two
    codes assigned to people who have not used them yet. Only on a contract without seats."""
    if db.session.scalar(select(func.count(Seat.id)).where(Seat.contract_id == contract.id)):
        return 0
    codes = list(
        db.session.scalars(
            select(EnrollmentCode)
            .where(EnrollmentCode.contract_id == contract.id, EnrollmentCode.times_redeemed == 0)
            .order_by(EnrollmentCode.id)
            .limit(SEAT_HISTORY + 3)
        )
    )
    if len(codes) < SEAT_HISTORY + 3:
        return 0
    for n, code in enumerate(codes[:SEAT_HISTORY]):
        _claim_seat(contract, code, n, now)
    for n, code in enumerate(codes[SEAT_HISTORY : SEAT_HISTORY + 2]):
        code.assigned_email = f"invited{n + 1}@acme.example"
        # One sent four days ago (its day-3 reminder is due), one yesterday.
        code.assigned_at = now - dt.timedelta(days=4 - 3 * n)
    db.session.flush()
    adjust_seat_codes(
        contract
    )  # the revoked seat's code stands for nothing: a fresh one replaces it
    return SEAT_HISTORY


def _claim_seat(contract: Contract, code: EnrollmentCode, n: int, now: dt.datetime) -> None:
    """The ``n``-th colleague, a member of the contract's organization, redeems ``code`` for a
    seat; the fourth one's seat is revoked six days later."""
    user, _ = get_or_create(
        User,
        {"email": f"colleague{n + 1:02d}@acme.example"},
        name=f"{DEMO_FIRST_NAMES[n % len(DEMO_FIRST_NAMES)]} Colleague",
    )
    get_or_create(
        Membership,
        {"user_id": user.id, "organization_id": contract.organization_id},
        source=MembershipSource.SSO,
    )
    # Within the contract's dates (it started 30 days ago): one every day and a half or so.
    claimed = now - dt.timedelta(days=28 - (n * 3) // 2, hours=n % 7)
    redemption = CodeRedemption(
        code_id=code.id, user_id=user.id, contract_id=contract.id, redeemed_at=claimed
    )
    db.session.add(redemption)
    db.session.flush()
    code.times_redeemed = 1
    seat = Seat(
        contract_id=contract.id,
        user_id=user.id,
        source=SeatSource.CODE,
        redemption_id=redemption.id,
        claimed_at=claimed,
    )
    if n == 3:
        seat.revoked_at = claimed + dt.timedelta(days=6)
        seat.revoke_reason = "Moved to another team"
    db.session.add(seat)
