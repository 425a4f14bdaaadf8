"""Renewing a contract for its next term and cloning one (issue 16): the preview and what it names
(the next term, its courseware, who carries over and who does not fit, the codes deactivated), the
confirmation that creates exactly that, the links between the two contracts, a second renewal
refused, a clone for another organization, and the refusals: bad input, unknown rows, not staff,
no CSRF token."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.core.domain_errors import Conflict, NotFound
from portal.jobs import queue
from portal.models import (
    AuditEvent,
    BackgroundJob,
    CodeRedemption,
    Contract,
    ContractProgram,
    CourseRun,
    EnrollmentCode,
    MembershipType,
    Seat,
    SeatSource,
    utcnow,
)
from portal.services import contract_copies as copies
from portal.services import contract_renewal as renewal
from portal.services import contract_runs
from portal.services.codes import generate_codes
from portal.services.contracts import ContractInvalid
from portal.services.seats import claimed_count
from tests.support.factories import (
    ContractProgramFactory,
    CourseFactory,
    CourseRunFactory,
    EnrollmentFactory,
    OrganizationFactory,
    ProgramCourseFactory,
    ProgramFactory,
)
from tests.support.sessions import csrf_token_of, sign_in
from tests.support.world import World

FORM_DATE = "%Y-%m-%dT%H:%M"


@pytest.fixture(autouse=True)
def _jobs_stay_queued(monkeypatch: pytest.MonkeyPatch) -> None:
    """The edX jobs a renewal records stay queued: here what matters is that they are recorded
    (tests/integration/test_contract_renewal.py runs them against the emulator)."""
    monkeypatch.setattr(queue, "_run_inline", lambda job_id: None)


def course_with_source(number: str, title: str) -> Any:
    course = CourseFactory(key=f"B2B_SOURCE+{number}", number=number, title=title)
    CourseRunFactory(
        course=course, course_key=f"course-v1:B2B_SOURCE+{number}+SOURCE", is_source_run=True
    )
    return course


@pytest.fixture
def scene(db: Any) -> SimpleNamespace:
    """RENEW's "Academy 2026" (code, 8 seats, ending in 65 days) with five seat holders who
    claimed a day apart, a program of two courses, a removed run, attached runs (one of a course
    without a source run), an assigned code, and unused seat and batch codes. OTHER is another
    organization."""
    now = utcnow().replace(second=0, microsecond=0)
    world = World(db)
    org = OrganizationFactory(name="Renew Org", key="RENEW")
    other = OrganizationFactory(name="Other Org", key="OTHER")
    contract = world.contract(
        "Academy 2026",
        org,
        MembershipType.CODE,
        seat_limit=8,
        start_at=now - dt.timedelta(days=300),
        end_at=now + dt.timedelta(days=65),
        description="Data skills for everyone",
        welcome_message="Welcome aboard",
        price_per_learner=Decimal("20.00"),
    )
    ds, py = course_with_source("DS.101x", "Data Science"), course_with_source("PY.1x", "Python")
    hist, lead = course_with_source("HIST.1x", "History"), course_with_source("LEAD.1x", "Lead")
    public = CourseFactory(key="OpenU+CS.50x", number="CS.50x", title="Computing")
    program = ProgramFactory(key="program-v1:RENEW+DATA", title="Data Program")
    ProgramCourseFactory(program=program, course=ds, position=0)
    ProgramCourseFactory(program=program, course=py, position=1)
    ContractProgramFactory(contract=contract, program=program)
    year = contract.start_at.year
    for course in (ds, py, lead):
        CourseRunFactory(
            course=course,
            course_key=f"course-v1:RENEW+{course.number}+1T{contract.id}C{year}",
            contract=contract,
            run_number=1,
            contract_run=True,
        )
    attached = [
        CourseRunFactory(course=c, course_key=f"course-v1:OpenU+{c.number}+2026", contract=contract)
        for c in (public, hist)
    ]
    removed = db.session.scalar(
        select(CourseRun).where(
            CourseRun.course_id == lead.id, CourseRun.contract_id == contract.id
        )
    )
    EnrollmentFactory(course_run=removed)  # kept on the contract, closed: not renewed
    contract_runs.remove_run(contract.id, removed.id)
    holders = [
        world.seat_learner(
            contract,
            f"holder{i}@renew.example",
            f"Holder {i}",
            claimed_at=now - dt.timedelta(days=10 - i),
            enroll=False,
        )[0]
        for i in range(5)
    ]
    world.free_codes(contract)[0].assigned_email = "invitee@renew.example"
    generate_codes(contract, 2)  # an extra batch, unused
    db.session.commit()
    return SimpleNamespace(
        now=now,
        org=org,
        other=other,
        contract=contract,
        holders=holders,
        courses=SimpleNamespace(ds=ds, py=py, hist=hist, lead=lead, public=public),
        program=program,
        attached=attached,
    )


@pytest.fixture
def staff(client: FlaskClient, login_as: Any, scene: SimpleNamespace) -> FlaskClient:
    login_as("staff")
    return client


def form_data(values: dict[str, Any], **flags: str) -> dict[str, str]:
    """The renew/clone form, filled with ``values`` as a browser posts them."""

    def when(at: dt.datetime | None) -> str:
        return at.strftime(FORM_DATE) if at else ""

    price = values["price_per_learner"]
    data = {
        "name": values["name"],
        "slug": values["slug"] or "",
        "description": values["description"],
        "welcome_message": values["welcome_message"],
        "membership_type": MembershipType(values["membership_type"]).value,
        "start_at": when(values["start_at"]),
        "end_at": when(values["end_at"]),
        "unlimited_seats": "y" if values["unlimited_seats"] else "",
        "seat_limit": "" if values["seat_limit"] is None else str(values["seat_limit"]),
        "price_per_learner": "" if price is None else str(price),
        "seat_revoke_allowed": "y" if values["seat_revoke_allowed"] else "",
    }
    return {**data, **flags}


def renew_data(scene: SimpleNamespace, **changes: Any) -> dict[str, str]:
    flags = {k: changes.pop(k) for k in ("carry_over", "deactivate_old_codes") if k in changes}
    values = {**renewal.renewal_defaults(scene.contract), **changes}
    return form_data(values, **{"carry_over": "y", "deactivate_old_codes": "y", **flags})


def marked(page: str, marker: str) -> list[str]:
    return re.findall(rf'{marker}="([^"]+)"', page)


def fingerprint_of(page: str) -> str:
    match = re.search(r'name="fingerprint" value="([^"]+)"', page)
    assert match, page[:2000]
    return match.group(1)


def confirm(client: FlaskClient, url: str, data: dict[str, str], page: str) -> Any:
    body = {**data, "confirm": "1"}
    if "fingerprint" in page:
        body["fingerprint"] = fingerprint_of(page)
    return client.post(url, data=body)


def renewal_of(db: Any, contract: Contract) -> Contract | None:
    db.session.expire_all()
    return db.session.scalar(select(Contract).where(Contract.renewed_from_id == contract.id))


def seat_emails(db: Any, contract: Contract) -> list[str]:
    seats = db.session.scalars(
        select(Seat).where(Seat.contract_id == contract.id, Seat.revoked_at.is_(None))
    )
    return sorted(seat.user.email for seat in seats)


def events(db: Any, action: str, contract: Contract) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.object_id == str(contract.id)
            )
        )
    )


# ----------------------------------------------------------------------------- the preview


def test_the_preview_proposes_the_next_term_with_the_same_terms(scene: SimpleNamespace) -> None:
    old = scene.contract
    preview = renewal.renewal_preview(old.id)
    v = preview.values
    assert v["start_at"] == old.end_at
    assert v["end_at"] == old.end_at + (old.end_at - old.start_at)
    assert v["name"] == f"Academy {old.end_at.year}"
    assert v["slug"] == f"academy-{old.end_at.year}"
    assert (v["membership_type"], v["seat_limit"], v["unlimited_seats"]) == (
        MembershipType.CODE,
        8,
        False,
    )
    assert v["price_per_learner"] == Decimal("20.00")
    assert (v["description"], v["welcome_message"]) == (
        "Data skills for everyone",
        "Welcome aboard",
    )
    plan, c = preview.courseware, scene.courses
    assert plan.programs == [scene.program]
    # The program's courses in order, then the other courses of the contract's runs; the run
    # staff removed (LEAD) is not renewed.
    assert plan.courses == [c.ds, c.py, c.hist]
    assert plan.sources[c.hist.id] == "course-v1:B2B_SOURCE+HIST.1x+SOURCE"
    assert plan.without_source == [c.public]
    assert plan.not_moved == sorted(scene.attached, key=lambda r: r.course_key)
    assert [h.email for h in preview.fit] == [u.email for u in scene.holders]
    assert preview.left_out == []
    assert preview.codes_to_deactivate == 0  # not chosen
    assert preview.new_codes == 3  # 8 seats, 5 carried


def test_an_open_ended_contract_is_renewed_for_a_year(db: Any, scene: SimpleNamespace) -> None:
    scene.contract.start_at, scene.contract.end_at = None, None
    db.session.commit()
    before = utcnow()
    v = renewal.renewal_preview(scene.contract.id).values
    assert before - dt.timedelta(minutes=1) <= v["start_at"] <= utcnow()
    assert v["end_at"].year == v["start_at"].year + 1
    assert v["end_at"].month == v["start_at"].month


def test_the_page_names_who_carries_over_and_who_does_not_fit(
    staff: FlaskClient, db: Any, scene: SimpleNamespace
) -> None:
    old = scene.contract
    form = staff.get(f"/staff/contracts/{old.id}/renew")
    assert form.status_code == 200
    text = form.get_data(as_text=True)
    assert f'value="academy-{old.end_at.year}"' in text
    assert re.search(r'<input checked[^>]*name="carry_over"', text)

    page = staff.post(f"/staff/contracts/{old.id}/renew", data=renew_data(scene, seat_limit=3))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    emails = [u.email for u in scene.holders]
    assert marked(html, "data-carried") == emails[:3]  # earliest claim first
    assert marked(html, "data-left-out") == emails[3:]
    assert 'data-codes-deactivated="4"' in html  # 2 seat codes and 2 batch codes; not the assigned
    assert 'data-new-runs="3"' in html and "Computing" in html  # no source run: named
    assert "Create the renewal" in html
    assert renewal_of(db, old) is None  # a preview writes nothing


def test_confirming_creates_exactly_what_the_preview_said(
    staff: FlaskClient, db: Any, scene: SimpleNamespace
) -> None:
    old = scene.contract
    url = f"/staff/contracts/{old.id}/renew"
    data = renew_data(scene, seat_limit=3)
    page = staff.post(url, data=data).get_data(as_text=True)
    named_in, named_out = marked(page, "data-carried"), marked(page, "data-left-out")

    done = confirm(staff, url, data, page)
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    new = renewal_of(db, old)
    assert new is not None and done.location.endswith(f"/staff/contracts/{new.id}")
    flashed = staff.get(done.location).get_data(as_text=True)
    assert "3 seat holders carried over, 2 did not fit." in flashed
    assert "4 unused codes of the old contract stopped." in flashed
    assert (new.seat_limit, new.organization_id, new.price_per_learner) == (
        3,
        old.organization_id,
        Decimal("20.00"),
    )
    # Exactly the three the preview named hold seats, as carried over by staff.
    assert seat_emails(db, new) == sorted(named_in)
    assert not set(seat_emails(db, new)) & set(named_out)
    assert claimed_count(new.id) == 3
    sources = set(db.session.scalars(select(Seat.source).where(Seat.contract_id == new.id)))
    assert sources == {SeatSource.STAFF}
    # Each carried seat holds a used seat code; no free seat, so no unused code.
    codes = list(
        db.session.scalars(select(EnrollmentCode).where(EnrollmentCode.contract_id == new.id))
    )
    assert len(codes) == 3 and all(c.for_seat and c.times_redeemed == 1 for c in codes)
    redeemers = db.session.scalars(
        select(CodeRedemption.user_id).where(CodeRedemption.contract_id == new.id)
    )
    assert sorted(redeemers) == sorted(u.id for u in scene.holders[:3])
    # The old contract keeps its seats; its unused, unassigned codes stopped.
    assert len(seat_emails(db, old)) == 5
    old_codes = list(
        db.session.scalars(select(EnrollmentCode).where(EnrollmentCode.contract_id == old.id))
    )
    assert sum(1 for c in old_codes if c.deactivated_at is not None) == 4
    assigned = next(c for c in old_codes if c.assigned_email)
    assert assigned.deactivated_at is None
    # Courseware: a new contract run per course, cloned from its source by a job; the program.
    year = new.start_at.year
    runs = sorted(
        db.session.scalars(select(CourseRun.course_key).where(CourseRun.contract_id == new.id))
    )
    assert runs == sorted(
        f"course-v1:RENEW+{n}+1T{new.id}C{year}" for n in ("DS.101x", "PY.1x", "HIST.1x")
    )
    jobs = db.session.scalar(
        select(func.count(BackgroundJob.id)).where(
            BackgroundJob.kind == "openedx.create_contract_run",
            BackgroundJob.organization_id == new.organization_id,
            BackgroundJob.payload["source_key"].as_string().like("%SOURCE"),
        )
    )
    assert jobs == 3
    link = db.session.scalar(select(ContractProgram).where(ContractProgram.contract_id == new.id))
    assert link is not None and link.program_id == scene.program.id
    # The audit shows the renewal on both contracts.
    (on_old,) = events(db, "contract.renewed", old)
    (on_new,) = events(db, "contract.renewed", new)
    assert on_old.after["renewed_as"] == new.id and on_new.after["renewed_from"] == old.id
    assert on_old.after["carried_over"] == [u.id for u in scene.holders[:3]]
    assert on_old.after["left_out"] == [u.id for u in scene.holders[3:]]
    assert on_old.after["codes_deactivated"] == 4


def test_both_contracts_link_to_each_other(
    staff: FlaskClient, db: Any, scene: SimpleNamespace
) -> None:
    old = scene.contract
    new = renewal.renew_contract(old.id, None, carry_over=False, deactivate_old_codes=False)
    db.session.commit()
    old_page = staff.get(f"/staff/contracts/{old.id}").get_data(as_text=True)
    new_page = staff.get(f"/staff/contracts/{new.id}").get_data(as_text=True)
    assert f'data-renewed-by="{new.id}"' in old_page and "Renewed by" in old_page
    assert f'data-renewed-from="{old.id}"' in new_page and "Renewed from" in new_page
    assert f"/staff/contracts/{old.id}/renew" not in old_page  # renewed once: no Renew… button
    assert f"/staff/contracts/{new.id}/renew" in new_page and "Clone…" in new_page


def test_more_seats_than_holders_carries_everyone_and_codes_the_free_seats(
    db: Any, scene: SimpleNamespace
) -> None:
    old = scene.contract
    values = {"seat_limit": 8, "name": "Academy next", "slug": "academy-next"}
    new = renewal.renew_contract(old.id, values, carry_over=True, deactivate_old_codes=False)
    db.session.commit()
    assert seat_emails(db, new) == sorted(u.email for u in scene.holders)
    unused = db.session.scalar(
        select(func.count(EnrollmentCode.id)).where(
            EnrollmentCode.contract_id == new.id, EnrollmentCode.times_redeemed == 0
        )
    )
    assert unused == 3  # one code per free seat, as contract creation makes them
    active_old = db.session.scalar(
        select(func.count(EnrollmentCode.id)).where(
            EnrollmentCode.contract_id == old.id, EnrollmentCode.deactivated_at.is_(None)
        )
    )
    assert active_old == 10  # nothing deactivated unless chosen


def test_without_carry_over_the_new_contract_starts_empty(db: Any, scene: SimpleNamespace) -> None:
    new = renewal.renew_contract(
        scene.contract.id, None, carry_over=False, deactivate_old_codes=False
    )
    db.session.commit()
    assert claimed_count(new.id) == 0
    assert (
        db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(EnrollmentCode.contract_id == new.id)
        )
        == 8
    )


def test_unlimited_and_auto_contracts_carry_seats_without_seat_codes(
    db: Any, scene: SimpleNamespace
) -> None:
    old = scene.contract
    unlimited = renewal.renew_contract(
        old.id,
        {"unlimited_seats": True, "seat_limit": None, "price_per_learner": None},
        carry_over=True,
        deactivate_old_codes=False,
    )
    db.session.commit()
    assert claimed_count(unlimited.id) == 5
    codes = list(
        db.session.scalars(select(EnrollmentCode).where(EnrollmentCode.contract_id == unlimited.id))
    )
    assert [c.redemption_type.value for c in codes] == ["multi_use"]  # the one open code
    auto = renewal.renew_contract(
        unlimited.id,
        {"membership_type": MembershipType.AUTO, "unlimited_seats": False, "seat_limit": 2},
        carry_over=True,
        deactivate_old_codes=False,
    )
    db.session.commit()
    assert seat_emails(db, auto) == sorted(u.email for u in scene.holders[:2])
    assert (
        db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(EnrollmentCode.contract_id == auto.id)
        )
        == 0
    )


# ----------------------------------------------------------------------------- refusals


def test_a_contract_is_renewed_once(staff: FlaskClient, db: Any, scene: SimpleNamespace) -> None:
    old = scene.contract
    first = renewal.renew_contract(old.id, None, carry_over=True, deactivate_old_codes=False)
    db.session.commit()
    with pytest.raises(Conflict, match="already renewed as"):
        renewal.renew_contract(
            old.id, {"slug": "again"}, carry_over=True, deactivate_old_codes=False
        )
    db.session.rollback()
    page = staff.get(f"/staff/contracts/{old.id}/renew", follow_redirects=True)
    assert page.status_code == 200 and "a contract is renewed once" in page.get_data(as_text=True)
    posted = staff.post(
        f"/staff/contracts/{old.id}/renew", data={**renew_data(scene, slug="x"), "confirm": "1"}
    )
    assert posted.status_code == 302 and posted.location.endswith(f"/staff/contracts/{old.id}")
    assert (
        db.session.scalar(select(func.count(Contract.id)).where(Contract.renewed_from_id == old.id))
        == 1
    )
    assert first.renewed_from_id == old.id


def test_a_confirmation_after_the_holders_changed_shows_the_new_preview(
    staff: FlaskClient, db: Any, scene: SimpleNamespace
) -> None:
    old = scene.contract
    url = f"/staff/contracts/{old.id}/renew"
    data = renew_data(scene, seat_limit=3)
    page = staff.post(url, data=data).get_data(as_text=True)
    World(db).seat_learner(old, "latecomer@renew.example", enroll=False)  # one more holder
    stale = confirm(staff, url, data, page)
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert "changed since the preview" in html
    assert marked(html, "data-left-out")[-1] == "latecomer@renew.example"
    assert renewal_of(db, old) is None
    again = confirm(staff, url, data, html)  # confirming the new preview works
    assert again.status_code == 302
    assert seat_emails(db, renewal_of(db, old)) == sorted(u.email for u in scene.holders[:3])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end_at": "2020-01-01T00:00"}, "The contract must end after it starts."),
        ({"seat_limit": "-1"}, "Enter a whole number from 0 to 1,000,000."),
        ({"seat_limit": ""}, "Enter a seat limit, or tick"),
        ({"price_per_learner": "-5"}, "not negative"),
        ({"name": ""}, "Enter a name."),
        ({"slug": "academy-2026"}, "already uses the short name"),
    ],
)
def test_bad_input_is_refused_beside_the_form_and_writes_nothing(
    staff: FlaskClient, db: Any, scene: SimpleNamespace, changes: dict[str, str], message: str
) -> None:
    old = scene.contract
    data = {**renew_data(scene), **changes}
    for body in (data, {**data, "confirm": "1"}):
        page = staff.post(f"/staff/contracts/{old.id}/renew", data=body)
        assert page.status_code in (400, 409)
        assert message in page.get_data(as_text=True)
    assert renewal_of(db, old) is None
    assert db.session.scalar(select(func.count(Contract.id))) == 1


def test_the_service_refuses_bad_values_too(db: Any, scene: SimpleNamespace) -> None:
    old = scene.contract
    with pytest.raises(ContractInvalid, match="must end after it starts"):
        renewal.renewal_preview(old.id, {"end_at": old.end_at - dt.timedelta(days=1)})
    with pytest.raises(ContractInvalid, match="between 0 and"):
        renewal.renewal_preview(old.id, {"seat_limit": -3})
    with pytest.raises(ContractInvalid, match="can't be set here"):
        renewal.renewal_preview(old.id, {"organization_id": scene.other.id})
    with pytest.raises(NotFound):
        renewal.renewal_preview(999_999)
    with pytest.raises(NotFound, match="organization does not exist"):
        copies.clone_contract(old.id, 999_999, None)
    with pytest.raises(NotFound, match="contract does not exist"):
        copies.clone_contract(999_999, scene.other.id, None)


def test_unknown_contracts_are_404_and_unknown_organizations_refused(
    staff: FlaskClient, db: Any, scene: SimpleNamespace
) -> None:
    for path in ("renew", "clone"):
        assert staff.get(f"/staff/contracts/999999/{path}").status_code == 404
        assert staff.post(f"/staff/contracts/999999/{path}", data={}).status_code == 404
    data = form_data(copies.clone_defaults(scene.contract), organization_id="999999")
    page = staff.post(f"/staff/contracts/{scene.contract.id}/clone", data={**data, "confirm": "1"})
    assert page.status_code == 400
    assert "Choose one of the organizations listed." in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Contract.id))) == 1


def test_only_staff_may_renew_or_clone(
    client: FlaskClient, login_as: Any, db: Any, scene: SimpleNamespace
) -> None:
    old = scene.contract
    for path in ("renew", "clone"):
        anonymous = client.post(f"/staff/contracts/{old.id}/{path}", data=renew_data(scene))
        assert anonymous.status_code == 302 and "/auth/login" in anonymous.location
    login_as("learner")
    for path in ("renew", "clone"):
        assert client.get(f"/staff/contracts/{old.id}/{path}").status_code == 403
        posted = client.post(
            f"/staff/contracts/{old.id}/{path}", data={**renew_data(scene), "confirm": "1"}
        )
        assert posted.status_code == 403
    assert renewal_of(db, old) is None


def test_csrf_is_required(app_factory: Any) -> None:
    from portal.extensions import db
    from tests.support.factories import ContractFactory, UserFactory

    app: Flask = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        old = ContractFactory(name="Guarded", seat_limit=2)
        staff = UserFactory(staff=True)
        db.session.commit()
        client = sign_in(app.test_client(), staff)
        data = form_data(renewal.renewal_defaults(old), carry_over="y", confirm="1")
        refused = client.post(f"/staff/contracts/{old.id}/renew", data=data)
        assert refused.status_code == 400 and "This form has expired" in refused.get_data(
            as_text=True
        )
        assert renewal_of(db, old) is None
        token = csrf_token_of(client.get(f"/staff/contracts/{old.id}/renew").get_data(as_text=True))
        preview = client.post(
            f"/staff/contracts/{old.id}/renew", data={**data, "csrf_token": token, "confirm": ""}
        )
        assert preview.status_code == 200 and "Create the renewal" in preview.get_data(as_text=True)


# ----------------------------------------------------------------------------- clone


def test_clone_for_another_organization(
    staff: FlaskClient, db: Any, scene: SimpleNamespace
) -> None:
    source = scene.contract
    url = f"/staff/contracts/{source.id}/clone"
    form = staff.get(url)
    assert form.status_code == 200 and "Preview the copy" in form.get_data(as_text=True)
    values = {**copies.clone_defaults(source), "name": "Other Academy", "slug": ""}
    data = form_data(values, organization_id=str(scene.other.id))
    page = staff.post(url, data=data)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Other Org" in html and 'data-new-runs="3"' in html and 'data-new-codes="8"' in html
    done = confirm(staff, url, data, html)
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    db.session.expire_all()
    copy = db.session.scalar(select(Contract).where(Contract.organization_id == scene.other.id))
    assert copy is not None and copy.slug == "other-academy" and copy.renewed_from_id is None
    assert (copy.seat_limit, copy.membership_type, copy.price_per_learner) == (
        8,
        MembershipType.CODE,
        Decimal("20.00"),
    )
    assert copy.description == source.description
    runs = sorted(
        db.session.scalars(select(CourseRun.course_key).where(CourseRun.contract_id == copy.id))
    )
    year = copy.start_at.year
    assert runs == sorted(
        f"course-v1:OTHER+{n}+1T{copy.id}C{year}" for n in ("DS.101x", "PY.1x", "HIST.1x")
    )
    assert claimed_count(copy.id) == 0
    codes = list(
        db.session.scalars(select(EnrollmentCode).where(EnrollmentCode.contract_id == copy.id))
    )
    assert len(codes) == 8 and all(c.for_seat and c.times_redeemed == 0 for c in codes)
    (event,) = events(db, "contract.cloned", copy)
    assert event.after["cloned_from"] == source.id and event.organization_id == scene.other.id
    (on_source,) = events(db, "contract.cloned", source)
    assert on_source.after["cloned_as"] == copy.id
    # The source is untouched, and a clone in its own organization gets a free short name.
    assert len(seat_emails(db, source)) == 5
    same_org = copies.clone_contract(source.id, scene.org.id, None)
    assert same_org.slug == "academy-2026-2" and same_org.name == source.name
