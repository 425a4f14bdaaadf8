"""Staff contract and code pages: every form's success and validation errors, the preview and
confirmation steps, the CSV export, who may use them, and the audit trail of every change."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

import portal.tasks.codes  # noqa: F401 - registers codes.generate until the factory imports it
from portal.core.text import group_code
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
from portal.services.codes import generate_codes
from tests.support.factories import SeatFactory, UserFactory, slug_of
from tests.support.world import join


@pytest.fixture
def staff_setup(demo: None) -> None:
    """Staff sign in to the demo data."""


def org(db: Any, key: str = "GLOBEX") -> Organization:
    return db.session.scalar(select(Organization).where(Organization.key == key))


def contract(db: Any, slug: str) -> Contract:
    db.session.expire_all()
    return db.session.scalar(select(Contract).where(Contract.slug == slug))


def codes_of(db: Any, c: Contract, **where: Any) -> list[EnrollmentCode]:
    query = select(EnrollmentCode).where(EnrollmentCode.contract_id == c.id)
    for name, value in where.items():
        query = query.where(getattr(EnrollmentCode, name) == value)
    return list(db.session.scalars(query.order_by(EnrollmentCode.id)))


def events(db: Any, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def contract_count(db: Any) -> int:
    return db.session.scalar(select(func.count(Contract.id)))


def new_contract_data(db: Any, **overrides: str) -> dict[str, str]:
    data = {
        "organization_id": str(org(db).id),
        "name": "Globex Analysts",
        "slug": "",
        "description": "For the analysts",
        "welcome_message": "Welcome!",
        "membership_type": "code",
        "start_at": "2026-01-01T00:00",
        "end_at": "2026-12-31T00:00",
        "seat_limit": "5",
        "price_per_learner": "",
        "seat_revoke_allowed": "y",
    }
    data.update(overrides)
    return data


def new_auto_contract(client: FlaskClient, db: Any, name: str, **fields: str) -> Contract:
    """An auto contract called ``name``, made by staff through the new contract form."""
    client.post(
        "/staff/contracts/new",
        data=new_contract_data(db, membership_type="auto", name=name, **fields),
    )
    return contract(db, slug_of(name))


def give_seat(db: Any, c: Contract, email: str, *, sso: bool = True) -> User:
    user = UserFactory(email=email)
    SeatFactory(contract=c, user=user, source=SeatSource.CODE)
    join(user, c.organization, sso=sso)
    db.session.commit()
    return user


# --------------------------------------------------------------------------- create


def test_new_contract_form_and_create_with_seat_codes(staff_client: FlaskClient, db: Any) -> None:
    page = staff_client.get("/staff/contracts/new")
    assert page.status_code == 200 and "Globex University (GLOBEX)" in page.get_data(as_text=True)
    response = staff_client.post(
        "/staff/contracts/new", data=new_contract_data(db), follow_redirects=True
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "Contract Globex Analysts created." in text
    assert "Added 5 one-time seat codes." in text
    c = contract(db, "globex-analysts")
    assert c.membership_type is MembershipType.CODE and c.seat_limit == 5
    assert c.welcome_message == "Welcome!" and c.end_at.year == 2026
    seat_codes = codes_of(db, c, for_seat=True)
    assert len(seat_codes) == 5
    assert {code.redemption_type for code in seat_codes} == {RedemptionType.ONE_TIME}
    created = events(db, "contract.created")[-1]
    assert created.object_id == str(c.id) and created.after["seat_limit"] == 5
    assert created.actor_id is not None
    assert events(db, "codes.seat_codes_adjusted")[-1].after["added"] == 5


def test_unlimited_code_contract_gets_one_multi_use_code_and_a_warning(
    staff_client: FlaskClient, db: Any
) -> None:
    form = staff_client.get("/staff/contracts/new").get_data(as_text=True)
    assert "anyone who gets hold of it" in form
    data = new_contract_data(db, seat_limit="", unlimited_seats="y", name="Open Door")
    text = staff_client.post("/staff/contracts/new", data=data, follow_redirects=True).get_data(
        as_text=True
    )
    assert "single multi-use code" in text and "Anyone who gets hold of it" in text
    c = contract(db, "open-door")
    assert c.unlimited_seats and c.seat_limit is None
    (code,) = codes_of(db, c)
    assert code.redemption_type is RedemptionType.MULTI_USE and code.max_uses is None


def test_auto_contract_gets_no_codes_and_a_paid_one_does(
    staff_client: FlaskClient, db: Any
) -> None:
    free = new_auto_contract(staff_client, db, "Free Auto", seat_limit="3")
    assert codes_of(db, free) == []
    paid = new_auto_contract(staff_client, db, "Paid Auto", seat_limit="3", price_per_learner="10")
    assert len(codes_of(db, paid)) == 3


def test_large_seat_limit_is_finished_by_the_job(staff_client: FlaskClient, db: Any) -> None:
    text = staff_client.post(
        "/staff/contracts/new",
        data=new_contract_data(db, name="Big One", seat_limit="1500"),
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "500 more seat codes are being generated" in text
    c = contract(db, "big-one")
    # The test app runs jobs inline right after the commit.
    assert len(codes_of(db, c, for_seat=True)) == 1500
    job = db.session.scalar(select(BackgroundJob).where(BackgroundJob.kind == "codes.generate"))
    assert job.state is JobState.SUCCEEDED and job.object_id == str(c.id)
    assert events(db, "codes.generation_queued")[-1].after["count"] == 500


BAD_CREATE = [
    ({"name": ""}, "Enter a name."),
    ({"name": "x" * 201}, "Field cannot be longer than 200 characters."),
    ({"name": "bad\x07name"}, "invisible control characters"),  # NUL: refused earlier
    ({"end_at": "2025-01-01T00:00"}, "The contract must end after it starts."),
    ({"end_at": "2026-01-01T00:00"}, "The contract must end after it starts."),
    ({"start_at": "yesterday"}, "Enter a date and time like"),
    ({"seat_limit": "", "unlimited_seats": ""}, "Enter a seat limit, or tick"),
    ({"seat_limit": "5", "unlimited_seats": "y"}, "Either tick &#39;Unlimited seats&#39;"),
    ({"seat_limit": "-1"}, "Enter a whole number from 0 to 1,000,000."),
    ({"seat_limit": "abc"}, "Not a valid integer value."),
    ({"seat_limit": "9" * 40}, "Enter a whole number from 0 to 1,000,000."),
    ({"seat_limit": "<script>alert(1)</script>"}, "Not a valid integer value."),
    ({"price_per_learner": "-5"}, "not negative"),
    ({"price_per_learner": "NaN"}, "Enter an amount like 149.00."),
    ({"price_per_learner": "1e999999"}, "not negative"),
    ({"price_per_learner": "ten"}, "Not a valid decimal value."),
    ({"slug": "<b>bad</b>"}, "Use lower-case letters, digits and single dashes."),
    ({"slug": "' OR 1=1 --"}, "Use lower-case letters, digits and single dashes."),
    ({"organization_id": "999999"}, "Choose one of the organizations listed."),
    ({"organization_id": "abc"}, "Choose one of the organizations listed."),
    ({"membership_type": "root"}, "Choose auto, code or managed."),
]


@pytest.mark.parametrize(("changes", "message"), BAD_CREATE)
def test_create_validation_errors(
    staff_client: FlaskClient, db: Any, changes: dict[str, str], message: str
) -> None:
    before = contract_count(db)
    response = staff_client.post("/staff/contracts/new", data=new_contract_data(db, **changes))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert contract_count(db) == before


def test_empty_post_is_a_form_error(staff_client: FlaskClient, db: Any) -> None:
    response = staff_client.post("/staff/contracts/new", data={})
    assert response.status_code == 400 and "Enter a name." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "name",
    ["Ünïcödé 合同 🎓", "'; DROP TABLE contracts; --", "<script>alert('x')</script>"],
)
def test_odd_names_are_stored_as_text_and_escaped(
    staff_client: FlaskClient, db: Any, name: str
) -> None:
    response = staff_client.post(
        "/staff/contracts/new", data=new_contract_data(db, name=name), follow_redirects=True
    )
    assert response.status_code == 200
    c = db.session.scalar(select(Contract).where(Contract.name == name))
    assert c is not None and c.slug
    page = staff_client.get(f"/staff/contracts/{c.id}").get_data(as_text=True)
    assert "<script>alert(" not in page


def test_slug_taken_is_explained(staff_client: FlaskClient, db: Any) -> None:
    response = staff_client.post(
        "/staff/contracts/new", data=new_contract_data(db, slug="globex-open-seats")
    )
    assert response.status_code == 409
    assert "already uses this short name" in response.get_data(as_text=True)


# --------------------------------------------------------------------------- edit


def test_edit_saves_and_audits_before_and_after(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-open-seats")
    page = staff_client.get(f"/staff/contracts/{c.id}/edit").get_data(as_text=True)
    assert "Globex Open Seats" in page and "Seat limit" not in page
    response = staff_client.post(
        f"/staff/contracts/{c.id}/edit",
        data={
            "name": "Globex Open Seats 2",
            "slug": "globex-open-seats",
            "start_at": "2026-01-01T00:00",
            "end_at": "2027-01-01T00:00",
            "price_per_learner": "0",
        },
    )
    assert response.status_code == 302
    c = contract(db, "globex-open-seats")
    assert c.name == "Globex Open Seats 2" and not c.seat_revoke_allowed
    event = events(db, "contract.updated")[-1]
    assert event.before["name"] == "Globex Open Seats"
    assert event.after["name"] == "Globex Open Seats 2"
    assert event.after["seat_revoke_allowed"] is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end_at": "2020-01-01T00:00"}, "The contract must end after it starts."),
        ({"name": ""}, "Enter a name."),
        ({"price_per_learner": "-0.01"}, "not negative"),
    ],
)
def test_edit_validation_errors(
    staff_client: FlaskClient, db: Any, changes: dict[str, str], message: str
) -> None:
    c = contract(db, "globex-open-seats")
    data = {"name": "New", "start_at": "2026-01-01T00:00", **changes}
    response = staff_client.post(f"/staff/contracts/{c.id}/edit", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert contract(db, "globex-open-seats").name == "Globex Open Seats"


def test_edit_to_another_contracts_slug_is_a_conflict(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-open-seats")
    response = staff_client.post(
        f"/staff/contracts/{c.id}/edit", data={"name": "X", "slug": "globex-certificate"}
    )
    assert response.status_code == 409
    assert "already uses this short name" in response.get_data(as_text=True)


# --------------------------------------------------------------------------- membership type


def test_membership_change_previews_then_applies(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-open-seats")
    give_seat(db, c, "sso@globex.example", sso=True)
    give_seat(db, c, "redeemer@globex.example", sso=False)
    form = staff_client.get(f"/staff/contracts/{c.id}/membership").get_data(as_text=True)
    assert "Preview the change" in form
    preview = staff_client.post(
        f"/staff/contracts/{c.id}/membership", data={"membership_type": "managed"}
    )
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and 'data-lose="1"' in text
    assert "redeemer@globex.example" in text
    assert contract(db, "globex-open-seats").membership_type is MembershipType.CODE
    done = staff_client.post(
        f"/staff/contracts/{c.id}/membership",
        data={"membership_type": "managed", "confirm": "y"},
        follow_redirects=True,
    )
    assert "now a managed contract: 0 gained access, 1 lost it" in done.get_data(as_text=True)
    assert contract(db, "globex-open-seats").membership_type is MembershipType.MANAGED
    event = events(db, "contract.membership_changed")[-1]
    assert event.before == {"membership_type": "code"}
    assert event.after["membership_type"] == "managed" and event.after["lost_access"] == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [("code", "already a code contract"), ("", "Choose auto"), ("<x>", "Choose auto")],
)
def test_membership_change_validation(
    staff_client: FlaskClient, db: Any, value: str, message: str
) -> None:
    c = contract(db, "globex-open-seats")
    response = staff_client.post(
        f"/staff/contracts/{c.id}/membership", data={"membership_type": value, "confirm": "y"}
    )
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert contract(db, "globex-open-seats").membership_type is MembershipType.CODE


def test_auto_to_code_generates_the_seat_codes(staff_client: FlaskClient, db: Any) -> None:
    c = new_auto_contract(staff_client, db, "Switcher", seat_limit="4")
    assert codes_of(db, c) == []
    preview = staff_client.post(
        f"/staff/contracts/{c.id}/membership", data={"membership_type": "code"}
    ).get_data(as_text=True)
    assert "4 one-time seat codes will be generated" in preview
    staff_client.post(
        f"/staff/contracts/{c.id}/membership", data={"membership_type": "code", "confirm": "y"}
    )
    assert len(codes_of(db, c, for_seat=True)) == 4


# --------------------------------------------------------------------------- seats


def test_seat_raise_previews_then_adds_codes(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-certificate")  # 10 seats, 10 codes
    preview = staff_client.post(f"/staff/contracts/{c.id}/seats", data={"seat_limit": "12"})
    assert preview.status_code == 200 and 'data-codes-add="2"' in preview.get_data(as_text=True)
    assert len(codes_of(db, c)) == 10
    done = staff_client.post(
        f"/staff/contracts/{c.id}/seats",
        data={"seat_limit": "12", "confirm": "y"},
        follow_redirects=True,
    )
    assert "Seats set to 12. Added 2 one-time seat codes." in done.get_data(as_text=True)
    assert len(codes_of(db, c, for_seat=True)) == 12
    event = events(db, "contract.seats_changed")[-1]
    assert event.before["seat_limit"] == 10 and event.after["seat_limit"] == 12


def test_seat_lower_previews_removal(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-certificate")
    preview = staff_client.post(f"/staff/contracts/{c.id}/seats", data={"seat_limit": "7"})
    assert 'data-codes-remove="3"' in preview.get_data(as_text=True)
    staff_client.post(f"/staff/contracts/{c.id}/seats", data={"seat_limit": "7", "confirm": "y"})
    assert len(codes_of(db, c)) == 7 and contract(db, "globex-certificate").seat_limit == 7


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"seat_limit": "0"}, "1 seat is already claimed, so the limit can&#39;t go below 1"),
        ({"seat_limit": "-3"}, "Enter a whole number from 0 to 1,000,000."),
        ({"seat_limit": "lots"}, "Not a valid integer value."),
        ({"seat_limit": ""}, "Enter a seat limit, or tick"),
        ({"seat_limit": "4", "unlimited_seats": "y"}, "not both"),
    ],
)
def test_seat_change_validation(
    staff_client: FlaskClient, db: Any, data: dict[str, str], message: str
) -> None:
    c = contract(db, "globex-certificate")
    give_seat(db, c, "holder@globex.example")
    response = staff_client.post(f"/staff/contracts/{c.id}/seats", data={**data, "confirm": "y"})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert contract(db, "globex-certificate").seat_limit == 10
    assert len(codes_of(db, c)) == 10


def test_seat_lower_refused_when_codes_are_used_or_assigned(
    staff_client: FlaskClient, db: Any
) -> None:
    c = contract(db, "globex-certificate")
    for code in codes_of(db, c)[:9]:
        code.assigned_email = "someone@globex.example"
    db.session.commit()
    response = staff_client.post(
        f"/staff/contracts/{c.id}/seats", data={"seat_limit": "5", "confirm": "y"}
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "only 1 is unused and unassigned" in text and "lowest limit possible now is 9" in text
    assert len(codes_of(db, c)) == 10


def test_unlimited_seats_via_the_seat_page(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-certificate")
    staff_client.post(
        f"/staff/contracts/{c.id}/seats", data={"unlimited_seats": "y", "confirm": "y"}
    )
    c = contract(db, "globex-certificate")
    assert c.unlimited_seats and c.seat_limit is None
    assert len(codes_of(db, c, redemption_type=RedemptionType.MULTI_USE)) == 1


# --------------------------------------------------------------------------- (de)activate


def test_deactivate_confirms_the_impact_then_reactivate(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-open-seats")
    give_seat(db, c, "a@globex.example")
    page = staff_client.get(f"/staff/contracts/{c.id}/deactivate").get_data(as_text=True)
    assert "1 learner with a seat lose access" in page and "50 usable codes" in page
    refused = staff_client.post(f"/staff/contracts/{c.id}/deactivate", data={})
    assert refused.status_code == 400 and "Tick the box to confirm." in refused.get_data(
        as_text=True
    )
    assert contract(db, "globex-open-seats").active
    staff_client.post(f"/staff/contracts/{c.id}/deactivate", data={"confirm": "y"})
    assert not contract(db, "globex-open-seats").active
    assert events(db, "contract.deactivated")[-1].after == {"active": False}
    again = staff_client.post(
        f"/staff/contracts/{c.id}/deactivate", data={"confirm": "y"}, follow_redirects=True
    )
    assert "already inactive" in again.get_data(as_text=True)
    staff_client.post(f"/staff/contracts/{c.id}/reactivate", data={"confirm": "y"})
    assert contract(db, "globex-open-seats").active
    assert events(db, "contract.reactivated")[-1].before == {"active": False}


# --------------------------------------------------------------------------- contract page


def test_contract_page_shows_seats_codes_and_learners(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-certificate")
    give_seat(db, c, "learner1@globex.example")
    page = staff_client.get(f"/staff/contracts/{c.id}").get_data(as_text=True)
    assert "data-seats-claimed>1<" in page and "data-seats-remaining>9<" in page
    assert "Unused 10 · used 0 · assigned 0 · deactivated 0" in page
    assert "learner1@globex.example" in page and "Generate an extra batch" in page
    assert f"/staff/contracts/{c.id}/codes.csv" in page


def test_code_search_by_code_and_email_with_pages(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-open-seats")
    generate_codes(c, 10)
    codes = codes_of(db, c)
    codes[3].assigned_email = "finder@globex.example"
    db.session.commit()
    target = codes[7].code
    typed = f" {target[:4].lower()}-{target[4:10].lower()} "
    page = staff_client.get(f"/staff/contracts/{c.id}", query_string={"q": typed})
    assert group_code(target) in page.get_data(as_text=True)  # shown grouped for reading
    by_email = staff_client.get(f"/staff/contracts/{c.id}", query_string={"q": "FINDER@"})
    text = by_email.get_data(as_text=True)
    assert group_code(codes[3].code) in text and group_code(codes[0].code) not in text
    for q in ["%", "_", "' OR 1=1 --", "<script>", "ü" * 500]:
        assert (
            staff_client.get(f"/staff/contracts/{c.id}", query_string={"q": q}).status_code == 200
        )
    first = staff_client.get(f"/staff/contracts/{c.id}").get_data(as_text=True)
    assert "codes_page=2" in first
    second = staff_client.get(f"/staff/contracts/{c.id}?codes_page=2").get_data(as_text=True)
    assert group_code(codes[0].code) in second and group_code(codes[-1].code) not in second
    for page_arg in ["abc", "-1", "9" * 30]:
        url = f"/staff/contracts/{c.id}?codes_page={page_arg}&learners_page={page_arg}"
        assert staff_client.get(url).status_code == 200


# --------------------------------------------------------------------------- code batches


def test_generate_small_batch_inline(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-open-seats")
    assert staff_client.get(f"/staff/contracts/{c.id}/codes/new").status_code == 200
    response = staff_client.post(
        f"/staff/contracts/{c.id}/codes/new",
        data={
            "count": "20",
            "redemption_type": "multi_use",
            "max_uses": "3",
            "activates_at": "2026-02-01T00:00",
            "expires_at": "2026-03-01T00:00",
        },
        follow_redirects=True,
    )
    assert "Generated 20 multi-use codes." in response.get_data(as_text=True)
    batch = codes_of(db, c, for_seat=False)
    assert len(batch) == 20 and {b.max_uses for b in batch} == {3}
    assert batch[0].expires_at.month == 3
    event = events(db, "codes.generated")[-1]
    assert event.after["count"] == 20 and event.after["redemption_type"] == "multi_use"


def test_generate_large_batch_runs_as_a_job(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-open-seats")
    text = staff_client.post(
        f"/staff/contracts/{c.id}/codes/new",
        data={"count": "6000", "redemption_type": "one_per_learner"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Generating 6,000 codes (job #" in text
    assert len(codes_of(db, c, for_seat=False)) == 6000
    job = db.session.scalar(select(BackgroundJob).where(BackgroundJob.kind == "codes.generate"))
    assert job.state is JobState.SUCCEEDED
    assert f'data-job-url="/staff/jobs/{job.id}.json"' in text
    status = staff_client.get(f"/staff/jobs/{job.id}.json").get_json()
    assert status["state"] == "succeeded"
    assert events(db, "codes.generated")[-1].actor_kind == "job"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Enter how many codes to generate."),
        ({"count": "0"}, "Enter a whole number from 1 to 100,000."),
        ({"count": "100001"}, "Enter a whole number from 1 to 100,000."),
        ({"count": "9" * 50}, "Enter a whole number from 1 to 100,000."),
        ({"count": "ten"}, "Not a valid integer value."),
        ({"count": "5", "redemption_type": "forever"}, "Choose one-time, one per learner"),
        ({"count": "5", "max_uses": "3"}, "Only multi-use codes take a number of uses"),
        ({"count": "5", "redemption_type": "multi_use", "max_uses": "0"}, "from 1 to 1,000,000"),
        (
            {"count": "5", "activates_at": "2026-03-01T00:00", "expires_at": "2026-02-01T00:00"},
            "Codes must expire after they become valid.",
        ),
        ({"count": "5", "expires_at": "<script>"}, "Enter a date and time like"),
        ({"count": "5", "discount_percent": "0"}, "above 0 and at most 100"),
        ({"count": "5", "discount_percent": "100.01"}, "above 0 and at most 100"),
        ({"count": "5", "discount_percent": "ten"}, "Not a valid decimal value."),
        ({"count": "5", "discount_amount": "-3"}, "Enter an amount above 0."),
        (
            {"count": "5", "discount_percent": "10", "discount_amount": "5"},
            "Give a percentage or an amount, not both.",
        ),
    ],
)
def test_generate_validation_errors(
    staff_client: FlaskClient, db: Any, data: dict[str, str], message: str
) -> None:
    c = contract(db, "globex-open-seats")
    response = staff_client.post(f"/staff/contracts/{c.id}/codes/new", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert len(codes_of(db, c)) == 50


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [("discount_percent", "12.5", "12.5% off"), ("discount_amount", "40", "40.00 USD off")],
)
def test_generate_discount_codes(
    staff_client: FlaskClient, db: Any, field: str, value: str, said: str
) -> None:
    """Codes are discount codes (b2b-rules 5): staff set a percentage or an amount, inline or in
    the job, and the audit says which."""
    c = contract(db, "globex-open-seats")
    for count in ("3", "1500"):
        text = staff_client.post(
            f"/staff/contracts/{c.id}/codes/new",
            data={"count": count, "redemption_type": "one_time", field: value},
            follow_redirects=True,
        ).get_data(as_text=True)
        assert (f"({said})" in text) if count == "3" else ("Generating 1,500 codes" in text)
    batch = codes_of(db, c, for_seat=False)
    assert len(batch) == 1503
    assert {getattr(b, field) for b in batch} == {Decimal(value)}
    other = "discount_amount" if field == "discount_percent" else "discount_percent"
    assert {getattr(b, other) for b in batch} == {None}
    assert [e.after["discount"] for e in events(db, "codes.generated")[-2:]] == [said, said]


# --------------------------------------------------------------------------- deactivate a code


def test_deactivate_code_confirms_and_replaces_a_seat_code(
    staff_client: FlaskClient, db: Any
) -> None:
    c = contract(db, "globex-certificate")
    code = codes_of(db, c)[0]
    page = staff_client.get(f"/staff/contracts/{c.id}/codes/{code.id}/deactivate")
    assert "a new seat code replaces it" in page.get_data(as_text=True)
    refused = staff_client.post(f"/staff/contracts/{c.id}/codes/{code.id}/deactivate")
    assert refused.status_code == 400
    db.session.expire_all()
    assert db.session.get(EnrollmentCode, code.id).deactivated_at is None
    done = staff_client.post(
        f"/staff/contracts/{c.id}/codes/{code.id}/deactivate",
        data={"confirm": "y"},
        follow_redirects=True,
    )
    assert (
        f"Code {group_code(code.code)} deactivated. A new seat code replaces it."
        in done.get_data(as_text=True)
    )
    db.session.expire_all()
    assert db.session.get(EnrollmentCode, code.id).deactivated_at is not None
    assert len([k for k in codes_of(db, c) if k.deactivated_at is None]) == 10
    event = events(db, "code.deactivated")[-1]
    assert event.before["deactivated_at"] is None and event.after["code"] == code.code
    again = staff_client.post(
        f"/staff/contracts/{c.id}/codes/{code.id}/deactivate",
        data={"confirm": "y"},
        follow_redirects=True,
    )
    assert "already deactivated" in again.get_data(as_text=True)
    other = contract(db, "globex-open-seats")
    wrong = f"/staff/contracts/{other.id}/codes/{code.id}/deactivate"
    assert staff_client.get(wrong).status_code == 404


# --------------------------------------------------------------------------- CSV export


def test_csv_export_content(staff_client: FlaskClient, db: Any, app: Any) -> None:
    c = contract(db, "globex-certificate")
    codes = codes_of(db, c)
    codes[0].assigned_email = "=hyperlink(evil)@x.example"
    codes[1].times_redeemed = 1
    db.session.commit()
    response = staff_client.get(f"/staff/contracts/{c.id}/codes.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="codes-contract-{c.id}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == [
        "code",
        "redemption type",
        "uses",
        "max uses",
        "activates",
        "expires",
        "deactivated",
        "assigned email",
        "redeem link",
    ]
    assert len(rows) == 11
    base = app.config["PORTAL"].public_base_url.rstrip("/")
    first = rows[1]
    assert first[0] == codes[0].code and first[1] == "one_time" and first[3] == "1"
    assert first[7] == "'=hyperlink(evil)@x.example"
    assert first[8] == f"{base}/redeem/{codes[0].code}"
    assert rows[2][2] == "1"
    assert events(db, "codes.exported")[-1].object_id == str(c.id)


# --------------------------------------------------------------------------- who may use them

ROUTES = [
    ("get", "/staff/contracts/new"),
    ("post", "/staff/contracts/new"),
    ("get", "/staff/contracts/{c}/edit"),
    ("post", "/staff/contracts/{c}/edit"),
    ("get", "/staff/contracts/{c}/membership"),
    ("post", "/staff/contracts/{c}/membership"),
    ("get", "/staff/contracts/{c}/seats"),
    ("post", "/staff/contracts/{c}/seats"),
    ("get", "/staff/contracts/{c}/deactivate"),
    ("post", "/staff/contracts/{c}/deactivate"),
    ("get", "/staff/contracts/{c}/reactivate"),
    ("post", "/staff/contracts/{c}/reactivate"),
    ("get", "/staff/contracts/{c}/codes/new"),
    ("post", "/staff/contracts/{c}/codes/new"),
    ("get", "/staff/contracts/{c}/codes/{k}/deactivate"),
    ("post", "/staff/contracts/{c}/codes/{k}/deactivate"),
    ("get", "/staff/contracts/{c}/codes.csv"),
    ("get", "/staff/contracts/{c}"),
    ("get", "/staff/contracts"),
]


@pytest.fixture
def demo_ids(db: Any, demo: None) -> dict[str, int]:
    c = contract(db, "acme-leadership")
    return {"c": c.id, "k": codes_of(db, c)[0].id}


@pytest.mark.parametrize("role", ["learner", "org_admin", "anonymous"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_only_staff_may_use_the_pages(
    client: FlaskClient,
    login_as: Callable[..., Any],
    db: Any,
    demo_ids: dict[str, int],
    role: str,
    method: str,
    path: str,
) -> None:
    if role == "learner":
        login_as("learner")
    elif role == "org_admin":
        admin = db.session.scalar(select(User).where(User.email == "admin@acme.example"))
        login_as(admin)
    before = db.session.scalar(select(func.count(AuditEvent.id)))
    response = getattr(client, method)(path.format(**demo_ids), data={"confirm": "y"})
    if role == "anonymous":
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    else:
        assert response.status_code == 403
    assert db.session.scalar(select(func.count(AuditEvent.id))) == before


def test_making_an_auto_contract_paid_gives_it_seat_codes(
    staff_client: FlaskClient, db: Any
) -> None:
    c = new_auto_contract(staff_client, db, "Soon Paid", seat_limit="3")
    assert codes_of(db, c) == []
    response = staff_client.post(
        f"/staff/contracts/{c.id}/edit",
        data={"name": "Soon Paid", "slug": "soon-paid", "price_per_learner": "99.5"},
        follow_redirects=True,
    )
    assert "Added 3 one-time seat codes." in response.get_data(as_text=True)
    assert contract(db, "soon-paid").price_per_learner == Decimal("99.50")
    assert len(codes_of(db, c, for_seat=True)) == 3
