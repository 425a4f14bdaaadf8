"""Code administration services: seat-change code rules (b2b-rules 5 and 6), the membership change
preview (section 3), the CSV export (content, formula neutralization, bounded memory at 100,000
codes) and the ``codes.generate`` job's progress."""

from __future__ import annotations

import datetime as dt
import gc
import tracemalloc
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

import portal.tasks.codes  # noqa: F401 - registers codes.generate until the factory imports it
from portal.core.csv_export import csv_safe
from portal.core.domain_errors import DomainError
from portal.jobs import record_job
from portal.jobs.registry import JobContext
from portal.models import (
    AuditEvent,
    BackgroundJob,
    Contract,
    EnrollmentCode,
    JobState,
    MembershipType,
    Organization,
    RedemptionType,
    SeatSource,
    User,
)
from portal.services import code_export, code_listing
from portal.services import codes as code_service
from portal.services import contracts as contract_service
from portal.services import seat_codes as seat_code_service
from portal.tasks.codes import generate as generate_job
from tests.support.factories import OrganizationFactory, SeatFactory, UserFactory
from tests.support.world import join, redeem


@pytest.fixture
def org(db: Any) -> Organization:
    organization = OrganizationFactory(name="Initech", key="INITECH")
    db.session.commit()
    return organization


def make_contract(
    db: Any,
    org: Organization,
    *,
    mtype: MembershipType = MembershipType.CODE,
    seats: int | None = 5,
    price: Decimal | None = None,
) -> Contract:
    contract = contract_service.create_contract(
        org,
        {
            "name": f"C {mtype.value} {seats}",
            "slug": f"c-{mtype.value}-{seats}-{price or 0}".replace(".", "-"),
            "membership_type": mtype,
            "unlimited_seats": seats is None,
            "seat_limit": seats,
            "price_per_learner": price,
        },
    )
    seat_code_service.adjust_seat_codes(contract)
    db.session.commit()
    return contract


def seat_codes(db: Any, contract: Contract) -> list[EnrollmentCode]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(EnrollmentCode)
            .where(
                EnrollmentCode.contract_id == contract.id,
                EnrollmentCode.for_seat.is_(True),
                EnrollmentCode.deactivated_at.is_(None),
            )
            .order_by(EnrollmentCode.id)
        )
    )


def use(db: Any, contract: Contract, code: EnrollmentCode, email: str) -> User:
    assert code.contract_id == contract.id
    user = UserFactory(email=email)
    redeem(code, user)
    db.session.commit()
    return user


def change_seats(
    db: Any, contract: Contract, limit: int | None
) -> seat_code_service.SeatCodeChange:
    contract_service.change_seat_limit(contract.id, limit)
    change = seat_code_service.adjust_seat_codes(contract)
    db.session.commit()
    return change


# --------------------------------------------------------------------------- seat-code rules


def test_seat_limited_code_contract_gets_one_one_time_code_per_seat(db: Any, org: Any) -> None:
    contract = make_contract(db, org, seats=5)
    codes = seat_codes(db, contract)
    assert len(codes) == 5
    assert all(c.redemption_type is RedemptionType.ONE_TIME and c.max_uses == 1 for c in codes)
    assert len({c.code for c in codes}) == 5


@pytest.mark.parametrize(
    ("mtype", "price", "expected"),
    [
        (MembershipType.MANAGED, None, 3),
        (MembershipType.AUTO, None, 0),
        (MembershipType.AUTO, Decimal("25.00"), 3),
    ],
)
def test_which_contracts_get_seat_codes(
    db: Any, org: Any, mtype: MembershipType, price: Decimal | None, expected: int
) -> None:
    assert (
        len(seat_codes(db, make_contract(db, org, mtype=mtype, seats=3, price=price))) == expected
    )


def test_raising_seats_adds_codes(db: Any, org: Any) -> None:
    contract = make_contract(db, org, seats=5)
    preview = contract_service.seat_change_preview(contract, 8)
    assert preview.allowed and preview.plan.to_add == 3 and preview.plan.to_remove == 0
    change = change_seats(db, contract, 8)
    assert change.added == 3 and len(seat_codes(db, contract)) == 8


def test_lowering_removes_unused_codes_newest_first_never_used_or_assigned(
    db: Any, org: Any
) -> None:
    contract = make_contract(db, org, seats=6)
    codes = seat_codes(db, contract)
    use(db, contract, codes[5], "used@initech.example")  # the newest is used
    codes[4].assigned_email = "assigned@initech.example"  # the next is assigned
    db.session.commit()
    preview = contract_service.seat_change_preview(contract, 3)
    assert preview.allowed and preview.plan.to_remove == 3 and preview.plan.removable == 4
    change = change_seats(db, contract, 3)
    assert change.removed == 3
    left = [c.id for c in seat_codes(db, contract)]
    # codes[1..3] were the newest removable ones; codes[0] stays, as do the used and assigned ones.
    assert left == [codes[0].id, codes[4].id, codes[5].id]


def test_lowering_is_refused_when_not_enough_codes_are_removable(db: Any, org: Any) -> None:
    contract = make_contract(db, org, seats=4)
    codes = seat_codes(db, contract)
    use(db, contract, codes[0], "a@initech.example")
    for code in codes[1:3]:
        code.assigned_email = "b@initech.example"
    db.session.commit()
    preview = contract_service.seat_change_preview(contract, 2)
    assert not preview.allowed
    assert "lowest limit possible now is 3" in preview.problem
    with pytest.raises(DomainError, match="only 1 is unused and unassigned"):
        contract_service.change_seat_limit(contract.id, 2)
    db.session.rollback()
    assert (
        len(seat_codes(db, contract)) == 4 and db.session.get(Contract, contract.id).seat_limit == 4
    )


def test_seat_limit_cannot_go_below_claimed(db: Any, org: Any) -> None:
    contract = make_contract(db, org, seats=3)
    codes = seat_codes(db, contract)
    use(db, contract, codes[0], "a@initech.example")
    use(db, contract, codes[1], "b@initech.example")
    preview = contract_service.seat_change_preview(contract, 1)
    assert not preview.allowed and "2 seats are already claimed" in preview.problem
    with pytest.raises(DomainError, match="can't go below 2"):
        contract_service.change_seat_limit(contract.id, 1)
    db.session.rollback()
    assert contract_service.seat_change_preview(contract, 2).allowed


def test_unlimited_gets_one_multi_use_code_and_limiting_again_closes_it(db: Any, org: Any) -> None:
    contract = make_contract(db, org, seats=2)
    change = change_seats(db, contract, None)
    assert change.unlimited_code is not None
    multi = [c for c in seat_codes(db, contract) if c.redemption_type is RedemptionType.MULTI_USE]
    assert len(multi) == 1 and multi[0].max_uses is None
    assert seat_code_service.adjust_seat_codes(db.session.get(Contract, contract.id)).added == 0
    change = change_seats(db, contract, 3)
    assert change.closed == 1 and change.added == 1
    kinds = [c.redemption_type for c in seat_codes(db, contract)]
    assert kinds == [RedemptionType.ONE_TIME] * 3


def test_adjust_defers_many_codes_to_the_job(db: Any, org: Any) -> None:
    contract = make_contract(db, org, seats=0)
    contract_service.change_seat_limit(contract.id, 2500)
    change = seat_code_service.adjust_seat_codes(contract, add_limit=1000)
    db.session.commit()
    assert change.added == 1000 and change.pending == 1500
    assert len(seat_codes(db, contract)) == 1000


def test_contract_validation_messages(db: Any, org: Any) -> None:
    start = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    base = {"name": "X", "slug": "x", "membership_type": MembershipType.CODE}
    bad = [
        ({"start_at": start, "end_at": start, "unlimited_seats": True}, "must end after it starts"),
        ({"unlimited_seats": False, "seat_limit": None}, "Enter a seat limit"),
        ({"unlimited_seats": True, "seat_limit": 3}, "not both"),
        ({"unlimited_seats": False, "seat_limit": -1}, "between 0 and"),
        (
            {"unlimited_seats": True, "price_per_learner": Decimal("-1")},
            "price per learner can't be negative",
        ),
    ]
    for values, message in bad:
        with pytest.raises(DomainError, match=message):
            contract_service.create_contract(org, {**base, **values})
    assert db.session.scalar(select(func.count(Contract.id))) == 0


def test_every_change_is_audited(db: Any, org: Any) -> None:
    contract = make_contract(db, org, seats=2)
    contract_service.update_contract(contract.id, {"name": "Renamed"})
    contract_service.change_membership_type(contract.id, MembershipType.MANAGED)
    contract_service.change_seat_limit(contract.id, 3)
    seat_code_service.adjust_seat_codes(contract)
    code_service.generate_batch(contract, 2, RedemptionType.ONE_PER_LEARNER)
    seat_code_service.deactivate_code(contract, seat_codes(db, contract)[0].id)
    contract_service.set_active(contract.id, False)
    db.session.commit()
    actions = set(
        db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_id.in_([str(contract.id)]))
        )
    ) | set(db.session.scalars(select(AuditEvent.action)))
    assert {
        "contract.created",
        "contract.updated",
        "contract.membership_changed",
        "contract.seats_changed",
        "codes.seat_codes_adjusted",
        "codes.generated",
        "code.deactivated",
        "contract.deactivated",
    } <= actions


# --------------------------------------------------------------------------- membership preview


def member(db: Any, org: Organization, email: str, *, sso: bool) -> User:
    user = UserFactory(email=email)
    join(user, org, sso=sso)
    db.session.commit()
    return user


def seat(db: Any, contract: Contract, user: User) -> None:
    SeatFactory(contract=contract, user=user, source=SeatSource.CODE)
    db.session.commit()


@pytest.fixture
def people(db: Any, org: Organization) -> tuple[Contract, dict[str, User]]:
    """An unlimited contract, with: an SSO member without a seat, an SSO member with a seat, and a
    code redeemer (membership kept until seen) with a seat."""
    contract = make_contract(db, org, mtype=MembershipType.AUTO, seats=None)
    users = {
        "sso_only": member(db, org, "sso-only@initech.example", sso=True),
        "sso_seat": member(db, org, "sso-seat@initech.example", sso=True),
        "code_seat": member(db, org, "code-seat@initech.example", sso=False),
    }
    seat(db, contract, users["sso_seat"])
    seat(db, contract, users["code_seat"])
    return contract, users


def switch(db: Any, contract: Contract, mtype: MembershipType) -> None:
    contract.membership_type = mtype
    db.session.commit()


def test_auto_to_code_members_without_a_seat_lose_access(db: Any, people: Any) -> None:
    contract, _ = people
    preview = contract_service.membership_change_preview(contract, MembershipType.CODE)
    assert (preview.gain.count, preview.lose.count) == (0, 1)
    assert preview.lose.sample == ["sso-only@initech.example"]
    assert "needs a code" in " ".join(preview.notes)


def test_code_to_auto_every_member_gains_access(db: Any, people: Any) -> None:
    contract, _ = people
    switch(db, contract, MembershipType.CODE)
    preview = contract_service.membership_change_preview(contract, MembershipType.AUTO)
    assert (preview.gain.count, preview.lose.count) == (1, 0)
    assert preview.gain.sample == ["sso-only@initech.example"]


def test_code_to_managed_seat_holders_without_sso_lose_access(db: Any, people: Any) -> None:
    contract, _ = people
    switch(db, contract, MembershipType.CODE)
    preview = contract_service.membership_change_preview(contract, MembershipType.MANAGED)
    assert (preview.gain.count, preview.lose.count) == (0, 1)
    assert preview.lose.sample == ["code-seat@initech.example"]


def test_managed_to_code_seat_holders_without_sso_gain_access(db: Any, people: Any) -> None:
    contract, _ = people
    switch(db, contract, MembershipType.MANAGED)
    preview = contract_service.membership_change_preview(contract, MembershipType.CODE)
    assert (preview.gain.count, preview.lose.count) == (1, 0)
    assert preview.gain.sample == ["code-seat@initech.example"]
    assert "multi-use code" in " ".join(preview.notes)


def test_preview_sample_is_capped(db: Any, org: Organization) -> None:
    contract = make_contract(db, org, mtype=MembershipType.CODE, seats=None)
    for n in range(15):
        member(db, org, f"m{n:02}@initech.example", sso=True)
    preview = contract_service.membership_change_preview(contract, MembershipType.AUTO)
    assert preview.gain.count == 15 and len(preview.gain.sample) == 10


# --------------------------------------------------------------------------- search and CSV


def test_search_codes(db: Any, org: Organization) -> None:
    contract = make_contract(db, org, seats=3)
    codes = seat_codes(db, contract)
    codes[1].assigned_email = "pat@initech.example"
    db.session.commit()
    found = code_listing.search_codes(contract, codes[0].code[:8].lower())
    assert [c.id for c in found.items] == [codes[0].id] and not found.has_next
    found = code_listing.search_codes(contract, "PAT@")
    assert [c.id for c in found.items] == [codes[1].id]
    assert code_listing.search_codes(contract, "%").items == []
    page1 = code_listing.search_codes(contract, "", per_page=2)
    page2 = code_listing.search_codes(contract, "", page=2, per_page=2)
    assert page1.has_next and not page2.has_next and len(page1.items) + len(page2.items) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (None, ""),
        (3, "3"),
    ],
)
def test_csv_cells_are_neutralized(value: object, expected: str) -> None:
    assert csv_safe(value) == expected


def test_export_rows(db: Any, org: Organization) -> None:
    contract = make_contract(db, org, seats=2)
    when = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    code_service.generate_batch(
        contract, 1, RedemptionType.MULTI_USE, 5, activates_at=when, expires_at=None
    )
    codes = seat_codes(db, contract)
    codes[0].assigned_email = "@evil"
    db.session.commit()
    rows = list(code_export.iter_export_rows(contract, "https://portal.example/"))
    assert rows[0] == code_export.EXPORT_HEADER and len(rows) == 4
    assert rows[1][7] == "'@evil" and rows[1][8] == f"https://portal.example/redeem/{codes[0].code}"
    assert rows[3][1] == "multi_use" and rows[3][3] == "5"
    assert rows[3][4].startswith("2026-06-01")


def test_export_of_100000_codes_streams_in_bounded_memory(
    db: Any, org: Organization, client: Any, login_as: Any
) -> None:
    contract = make_contract(db, org, mtype=MembershipType.AUTO, seats=None)
    code_service.generate_batch(contract, 100_000, RedemptionType.ONE_TIME)
    db.session.commit()
    login_as("staff")
    gc.collect()
    tracemalloc.start()
    try:
        response = client.get(f"/staff/contracts/{contract.id}/codes.csv", buffered=False)
        assert response.status_code == 200 and response.is_streamed
        lines = 0
        last = b""
        for chunk in response.response:
            data = chunk if isinstance(chunk, bytes) else chunk.encode()
            lines += data.count(b"\n")
            last = data
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == 100_001  # the header and every code
    assert b"/redeem/" in last
    # The whole file is about 10 MB; streaming keeps the peak far below holding it all.
    assert peak < 30 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


# --------------------------------------------------------------------------- the job


def test_generation_job_reports_progress_in_chunks(
    db: Any, org: Organization, monkeypatch: Any
) -> None:
    contract = make_contract(db, org, mtype=MembershipType.AUTO, seats=None)
    payload = code_service.batch_payload(
        contract, 12_000, RedemptionType.ONE_TIME, None, None, None
    )
    steps: list[str] = []
    original = JobContext.progress

    def record(self: JobContext, done: int, total: int | None = None, unit: str = "") -> None:
        steps.append(f"{done}/{total} {unit}")
        original(self, done, total, unit)

    monkeypatch.setattr(JobContext, "progress", record)
    job = record_job("codes.generate", payload, object_type="contract", object_id=contract.id)
    db.session.commit()  # the test app runs the job in-process right after the commit
    db.session.expire_all()
    stored = db.session.get(BackgroundJob, job.id)
    assert stored.state is JobState.SUCCEEDED
    assert steps == ["5000/12000 codes", "10000/12000 codes", "12000/12000 codes"]
    assert (stored.progress_done, stored.progress_total, stored.progress_unit) == (
        12_000,
        12_000,
        "codes",
    )
    count = select(func.count(EnrollmentCode.id)).where(EnrollmentCode.batch == payload["batch"])
    assert db.session.scalar(count) == 12_000
    # Run again (a retry): nothing more is made.
    generate_job(JobContext(db.session.get(BackgroundJob, job.id)))
    assert db.session.scalar(count) == 12_000 and len(steps) == 3


def test_generation_job_through_the_worker(rq_app_factory: Any, job_runner_for: Any) -> None:
    from portal.extensions import db

    # The worker (a separate process when REDIS_URL is set) loads the job module by name.
    rq_app = rq_app_factory(JOB_MODULES="tests.support.jobs,portal.tasks.codes")
    jobs = job_runner_for(rq_app)
    with rq_app.app_context():
        _generate_through_worker(db, jobs)


def _generate_through_worker(db: Any, jobs: Any) -> None:

    org = OrganizationFactory(name="Hooli", key="HOOLI")
    contract = contract_service.create_contract(
        org,
        {
            "name": "Hooli seats",
            "slug": "hooli",
            "membership_type": MembershipType.CODE,
            "unlimited_seats": False,
            "seat_limit": 7000,
        },
    )
    payload = code_service.batch_payload(contract, 6000, RedemptionType.MULTI_USE, 2, None, None)
    batch_job = record_job("codes.generate", payload, object_type="contract", object_id=contract.id)
    seats_job = record_job(
        "codes.generate",
        {"contract_id": contract.id, "seats": True},
        object_type="contract",
        object_id=contract.id,
    )
    db.session.commit()
    jobs.run()
    db.session.expire_all()
    for job_id in (batch_job.id, seats_job.id):
        job = db.session.get(BackgroundJob, job_id)
        assert job.state is JobState.SUCCEEDED, job.last_error
    batch = select(func.count(EnrollmentCode.id)).where(EnrollmentCode.batch == payload["batch"])
    assert db.session.scalar(batch) == 6000
    seat_count = select(func.count(EnrollmentCode.id)).where(
        EnrollmentCode.contract_id == contract.id, EnrollmentCode.for_seat.is_(True)
    )
    assert db.session.scalar(seat_count) == 7000
    actions = list(db.session.scalars(select(AuditEvent.action)))
    assert "codes.generated" in actions and "codes.seat_codes_adjusted" in actions


def test_generation_job_refuses_a_bad_payload(db: Any, org: Organization) -> None:
    from portal.jobs.errors import PermanentJobError

    contract = make_contract(db, org, seats=1)
    job = record_job(
        "codes.generate",
        {"contract_id": contract.id, "batch": "b", "count": 5, "redemption_type": "forever"},
    )
    db.session.commit()
    with pytest.raises(PermanentJobError, match="unknown redemption type"):
        generate_job(JobContext(job))
