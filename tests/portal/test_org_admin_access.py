"""Every org admin route, generated from ``app.url_map``, tried across tenants; and the pages' query
counts at 10 and at 50,000 learners with outcomes from edX (they must not grow with the data)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from portal.demo import add_bulk_outcomes
from portal.models import CodeRedemption, EnrollmentCode, JobState, LearningOutcome, Seat, User
from portal.services import seat_codes as code_service
from tests.support.factories import BackgroundJobFactory
from tests.support.org_world import OrgWorld, bulk_learners


def _routes(app: Flask) -> list[tuple[str, str]]:
    """(rule, method) for every org admin route and method (HEAD/OPTIONS aside)."""
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("org_admin.")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    )


def _ids(world: OrgWorld, contract: Any) -> dict[str, Any]:
    """Real ids of one contract's objects, so a denial is never a plain 'no such row'."""
    s = world.db.session
    seat = s.scalar(select(Seat.id).where(Seat.contract_id == contract.id))
    code = s.scalar(select(EnrollmentCode.id).where(EnrollmentCode.contract_id == contract.id))
    bulk = BackgroundJobFactory(  # a bulk code assignment of the contract (its progress page)
        kind="codes.assign_bulk",
        state=JobState.SUCCEEDED,
        organization_id=contract.organization_id,
        object_type="contract",
        object_id=str(contract.id),
    )
    s.commit()
    return {"contract_id": contract.id, "seat_id": seat, "code_id": code, "job_id": bulk.id}


def _url(rule: str, org_key: str, ids: dict[str, Any]) -> str:
    url = rule.replace("<org_key>", org_key)
    for name, value in ids.items():
        url = url.replace(f"<int:{name}>", str(value))
    url = url.replace("<token>", "a-report-link-token")  # the report download's signed token
    assert "<" not in url, url
    return url


def _call(client: FlaskClient, method: str, url: str) -> int:
    data = {"email": "x@example.com", "reason": "r", "confirm": "y"}
    return client.open(url, method=method, data=data if method == "POST" else None).status_code


def _seed(world: OrgWorld) -> None:
    world.seat_learner(world.seats, "ada@acme.example", "Ada")
    world.seat_learner(world.other, "gina@globex.example", "Gina")
    assigned = world.free_codes(world.seats)[0]
    assigned.assigned_email = "someone@acme.example"
    world.db.session.commit()


def test_the_matrix_sees_every_org_admin_route(app: Flask) -> None:
    routes = _routes(app)
    assert len(routes) >= 12
    assert (
        "/org/<org_key>/contracts/<int:contract_id>/seats/<int:seat_id>/revoke",
        "POST",
    ) in routes


def test_an_admin_of_another_organization_gets_404_everywhere(
    app: Flask, client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    _seed(world)
    acme_ids = _ids(world, world.seats)
    login_as(world.gus)  # Globex's admin
    statuses = {
        (rule, method): _call(client, method, _url(rule, "ACME", acme_ids))
        for rule, method in _routes(app)
        if "<org_key>" in rule
    }
    assert set(statuses.values()) == {404}, statuses
    # Nothing changed in Acme while Gus knocked on every door.
    db.session.expire_all()
    assert (
        db.session.scalar(select(Seat).where(Seat.contract_id == world.seats.id)).revoked_at is None
    )


def test_an_admin_cannot_reach_another_organizations_contract_under_their_own_key(
    app: Flask, client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    _seed(world)
    globex_ids = _ids(world, world.other)
    login_as(world.grace)
    statuses = {
        (rule, method): _call(client, method, _url(rule, "ACME", globex_ids))
        for rule, method in _routes(app)
        if "contract_id" in rule
    }
    assert set(statuses.values()) == {404}, statuses


def test_a_learner_who_manages_nothing_gets_403_and_anonymous_is_sent_to_sign_in(
    app: Flask, client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    _seed(world)
    ids = _ids(world, world.seats)
    routes = _routes(app)
    for rule, method in routes:
        response = client.open(_url(rule, "ACME", ids), method=method)
        assert response.status_code == 302, (rule, method)
        assert "/auth/login" in response.headers["Location"]
    login_as(world.lee)
    statuses = {(r, m): _call(client, m, _url(r, "ACME", ids)) for r, m in routes}
    assert set(statuses.values()) == {403}, statuses


def test_the_own_admin_and_staff_are_let_in(
    app: Flask, client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    _seed(world)
    ids = _ids(world, world.seats)
    for who in (world.grace, world.staff):
        login_as(who)
        for rule, method in _routes(app):
            # A report link opens for its subscriber only (tests/portal/test_report_subscriptions.py).
            if method == "GET" and "<token>" not in rule:
                status = client.get(_url(rule, "ACME", ids)).status_code
                assert status == 200, (who.email, rule, status)


# ----------------------------------------------------------------------------- query bounds


def _page_queries(
    client: FlaskClient, count_queries: Callable[..., Any], world: OrgWorld
) -> dict[str, int]:
    urls = {
        "overview": "/org/ACME/",
        "learners": "/org/ACME/learners",
        "learners search": "/org/ACME/learners?q=learner&status=all",
        "learners by contract": f"/org/ACME/learners?contract={world.auto.id}",
        "codes": f"/org/ACME/contracts/{world.seats.id}/codes",
        "codes used": f"/org/ACME/contracts/{world.seats.id}/codes?status=used",
        "bulk assign": f"/org/ACME/contracts/{world.seats.id}/codes/assign-bulk",
        "learners who passed": "/org/ACME/learners?outcome=passed",
        "learners by progress": f"/org/ACME/learners?contract={world.auto.id}&sort=-progress",
        "learners not started by grade": "/org/ACME/learners?outcome=not_started&sort=grade",
    }
    counts = {}
    for name, url in urls.items():
        client.get(url)  # warm up (first-request work is not the page's)
        with count_queries() as counter:
            assert client.get(url).status_code == 200, url
        counts[name] = counter.count
    return counts


def _grow(world: OrgWorld, db: Any, learners: int) -> None:
    """``learners`` on the auto contract (each enrolled), and as many codes on the seat contract,
    every other one used by a distinct learner."""
    world.auto.seat_limit = learners
    world.seats.seat_limit = learners
    db.session.commit()
    bulk_learners(world.auto, world.run, learners, prefix=f"grow{learners}")
    add_bulk_outcomes(world.run)
    code_service.adjust_seat_codes(world.seats)
    db.session.commit()
    users = list(db.session.scalars(select(User.id).where(User.email.like(f"grow{learners}-%"))))
    codes = list(
        db.session.scalars(
            select(EnrollmentCode.id)
            .where(EnrollmentCode.contract_id == world.seats.id)
            .limit(learners // 2)
        )
    )
    db.session.execute(
        update(EnrollmentCode).where(EnrollmentCode.id.in_(codes)).values(times_redeemed=1)
    )
    db.session.add_all(
        CodeRedemption(code_id=c, user_id=u, contract_id=world.seats.id)
        for c, u in zip(codes, users, strict=False)
    )
    db.session.commit()


def _staff_and_learner_queries(
    client: FlaskClient,
    login_as: Callable[..., Any],
    count_queries: Callable[..., Any],
    world: OrgWorld,
) -> dict[str, int]:
    """The staff pages with outcomes, and a learner's dashboard, by query count."""
    counts = {}
    learner = world.db.session.scalar(
        select(User).where(User.email.like("grow10-%")).order_by(User.id).limit(1)
    )
    for who, urls in (
        (world.staff, {
            "staff contract": f"/staff/contracts/{world.seats.id}",
            "staff auto contract": f"/staff/contracts/{world.auto.id}",
            "staff organization": f"/staff/organizations/{world.acme.id}",
        }),
        (learner, {"learner dashboard": "/learner/"}),
    ):  # fmt: skip
        login_as(who)
        for name, url in urls.items():
            client.get(url)
            with count_queries() as counter:
                assert client.get(url).status_code == 200, url
            counts[name] = counter.count
    login_as(world.grace)
    return counts


def test_pages_run_the_same_number_of_queries_at_10_and_50000_learners(
    client: FlaskClient,
    login_as: Callable[..., Any],
    count_queries: Callable[..., Any],
    world: OrgWorld,
    db: Any,
) -> None:
    login_as(world.grace)
    _grow(world, db, 10)
    small = _page_queries(client, count_queries, world)
    small |= _staff_and_learner_queries(client, login_as, count_queries, world)
    _grow(world, db, 50_000)
    large = _page_queries(client, count_queries, world)
    large |= _staff_and_learner_queries(client, login_as, count_queries, world)
    assert small == large
    assert max(v for k, v in small.items() if not k.startswith("staff")) <= 15, small
    assert max(small.values()) <= 20, small
    # The learners at 50,000 really carry outcomes: the passed filter finds the third who passed.
    passed = db.session.scalar(
        select(func.count(LearningOutcome.id)).where(LearningOutcome.passed.is_(True))
    )
    assert passed > 16_000
    page = client.get("/org/ACME/learners?outcome=passed").get_data(as_text=True)
    assert f'data-total="{passed}"' in page
