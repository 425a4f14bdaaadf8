"""Command-line tools: demo data, staff grants, job tools."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    BackgroundJob,
    Contract,
    EnrollmentCode,
    JobState,
    Membership,
    MembershipType,
    Organization,
    Program,
    User,
)


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_seed_demo_is_realistic_and_idempotent(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--no-contract-runs", "--no-seat-history"])
    assert first.exit_code == 0, first.output
    assert "Created:" in first.output
    snapshot = {
        m.__name__: count(m) for m in (Organization, Contract, EnrollmentCode, User, Program)
    }
    assert snapshot["Organization"] == 2
    assert {c.membership_type for c in db.session.scalars(select(Contract))} == set(MembershipType)
    # Seat-limited contracts get one one-time code per seat.
    for contract in db.session.scalars(select(Contract).where(Contract.unlimited_seats.is_(False))):
        n = db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(EnrollmentCode.contract_id == contract.id)
        )
        assert n == contract.seat_limit
    admin = db.session.scalar(select(User).where(User.email == "admin@acme.example"))
    assert db.session.scalar(select(Membership.is_manager).where(Membership.user_id == admin.id))

    second = runner.invoke(args=["seed-demo", "--no-contract-runs", "--no-seat-history"])
    assert second.exit_code == 0
    assert "nothing created" in second.output
    assert {
        m.__name__: count(m) for m in (Organization, Contract, EnrollmentCode, User, Program)
    } == snapshot


def test_seed_demo_seat_history_feeds_the_org_admin_dashboard(app: Flask) -> None:
    from portal.models import Seat
    from portal.services import seat_codes as code_service
    from portal.services.seat_usage import organization_usage

    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--no-contract-runs"])
    assert first.exit_code == 0 and "20 seat history" in first.output
    acme = db.session.scalar(select(Organization).where(Organization.key == "ACME"))
    usage = {u.contract.slug: u for u in organization_usage(acme)}["acme-leadership"]
    assert usage.claimed == 19 and usage.alert == "high"  # one of twenty was revoked
    assert sum(day.claims for day in usage.days) == 20 and usage.days[-1].in_use == 19
    revoked = db.session.scalar(select(Seat).where(Seat.revoked_at.is_not(None)))
    assert revoked.revoke_reason == "Moved to another team"
    plan = code_service.seat_code_plan(usage.contract)
    assert plan.live == 25 and plan.to_add == 0  # the revoked seat's code was replaced
    again = runner.invoke(args=["seed-demo", "--no-contract-runs"])
    assert "nothing created" in again.output
    assert db.session.scalar(select(func.count(Seat.id))) == 20


def test_grant_staff(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["grant-staff", "  Boss@Example.COM "])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "boss@example.com"))
    assert user is not None and user.is_staff
    assert (
        db.session.scalar(select(AuditEvent.action).where(AuditEvent.object_id == str(user.id)))
        == "user.staff_granted"
    )
    bad = runner.invoke(args=["grant-staff", "not-an-email"])
    assert bad.exit_code != 0
    assert "EMAIL" in bad.output


def test_jobs_ping_and_sweep(rq_app: Flask, jobs: Any) -> None:
    runner = rq_app.test_cli_runner()
    assert runner.invoke(args=["jobs", "ping"]).exit_code == 0
    job = db.session.scalar(select(BackgroundJob))
    assert job is not None
    # The sweep finds nothing to do while the job sits fresh in Redis.
    result = runner.invoke(args=["jobs", "sweep"])
    assert result.exit_code == 0 and "Sent 0 jobs" in result.output
    jobs.run()
    db.session.expire_all()
    assert db.session.get(BackgroundJob, job.id).state is JobState.SUCCEEDED
