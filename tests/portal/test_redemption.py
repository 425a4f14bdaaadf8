"""Code redemption through the HTTP interface: every refusal reason and every success path."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.core.text import group_code
from portal.models import (
    AuditEvent,
    BackgroundJob,
    CodeRedemption,
    Contract,
    EnrollmentCode,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    RedemptionType,
    Seat,
    User,
    utcnow,
)
from tests.support.factories import (
    ContractFactory,
    EnrollmentCodeFactory,
    MembershipFactory,
    OrganizationFactory,
)
from tests.support.sessions import signed_in
from tests.support.world import acme

NOW = utcnow()
DAY = dt.timedelta(days=1)


class World:
    """Acme (linked to Keycloak) and a closed organization, with contracts and codes by label."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.acme = acme()
        self.closed_org = OrganizationFactory(name="Closed Org", key="CLOSED", active=False)
        self.contracts: dict[str, Contract] = {}
        self.codes: dict[str, str] = {}

    def contract(self, name: str, org: Organization | None = None, **kw: Any) -> Contract:
        """A contract (a 10-seat code contract unless ``kw`` says otherwise) of Acme or ``org``."""
        self.contracts[name] = ContractFactory(organization=org or self.acme, name=name, **kw)
        return self.contracts[name]

    def code(
        self,
        label: str,
        contract: Contract,
        rtype: RedemptionType = RedemptionType.ONE_TIME,
        **kw: Any,
    ) -> str:
        value = f"CODE{len(self.codes):04d}{label.upper().replace('-', '')}"[:20]
        value = "".join(ch if ch not in "01ILO" else "X" for ch in value)
        uses = kw.pop("max_uses", None)
        EnrollmentCodeFactory(code=value, contract=contract, redemption_type=rtype, uses=uses, **kw)
        self.codes[label] = value
        return value


@pytest.fixture
def world(db: Any) -> World:
    w = World(db)
    main = w.contract("Main")
    w.code("good", main)
    w.code("good2", main)
    w.code("multi", main, RedemptionType.MULTI_USE, max_uses=2)
    w.code("per-learner", w.contract("Per Learner"), RedemptionType.ONE_PER_LEARNER)
    w.code("deactivated", main, deactivated_at=NOW - DAY)
    w.code("future", main, activates_at=NOW + DAY)
    w.code("expired", main, expires_at=NOW - DAY)
    w.code("inactive-contract", w.contract("Inactive", active=False))
    w.code("inactive-org", w.contract("Closed Org Contract", org=w.closed_org))
    w.code("not-started", w.contract("Later", start_at=NOW + DAY))
    w.code("ended", w.contract("Over", start_at=NOW - 10 * DAY, end_at=NOW - DAY))
    w.code("managed", w.contract("Managed", membership_type=MembershipType.MANAGED))
    full = w.contract("Full", seat_limit=1)
    w.code("full-a", full)
    w.code("full-b", full)
    db.session.commit()
    return w


def redeem(client: FlaskClient, code: str) -> Any:
    return client.post("/learner/redeem", data={"code": code})


def count(db: Any, model: Any, **where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


def test_success_claims_a_seat_joins_the_organization_and_queues_the_keycloak_push(
    client: FlaskClient, login_as: Callable[..., Any], world: World, db: Any
) -> None:
    user = login_as("learner")
    response = redeem(client, world.codes["good"])
    assert response.status_code == 302
    page = html.unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Code accepted: you now have access to Main from Acme" in page
    main = world.contracts["Main"]
    assert count(db, Seat, contract_id=main.id, user_id=user.id) == 1
    assert count(db, CodeRedemption, user_id=user.id) == 1
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert membership.source is MembershipSource.CODE and membership.keep_until_seen
    job = db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == "keycloak.push_member")
    )
    assert job is not None and job.payload == {"user_id": user.id, "organization_id": world.acme.id}
    assert (
        db.session.scalar(select(AuditEvent).where(AuditEvent.action == "code.redeemed"))
        is not None
    )
    assert "Main" in page and "Available to you" in page


def test_redeeming_again_uses_nothing(
    client: FlaskClient, login_as: Callable[..., Any], world: World, db: Any
) -> None:
    user = login_as("learner")
    redeem(client, world.codes["good"])
    again = redeem(client, world.codes["good2"])  # another code of the same contract
    assert again.status_code == 302
    assert "already have access to Main" in html.unescape(
        client.get("/learner/").get_data(as_text=True)
    )
    assert count(db, Seat, user_id=user.id) == 1
    assert count(db, CodeRedemption, user_id=user.id) == 1
    code2 = db.session.scalar(
        select(EnrollmentCode).where(EnrollmentCode.code == world.codes["good2"])
    )
    assert code2.times_redeemed == 0


def test_codes_are_case_and_space_insensitive(
    client: FlaskClient, login_as: Callable[..., Any], world: World
) -> None:
    login_as("learner")
    code = world.codes["good"]
    messy = f"  {code[:4].lower()}-{code[4:8]} {code[8:].lower()}  "
    assert redeem(client, messy).status_code == 302


@pytest.mark.parametrize(
    "shape",
    [
        "grouped",  # as the portal shows it: ABCD-EFGH-...
        "en dash",  # a word processor's dashes
        "no-break space",  # pasted from an email or a PDF
        "tab",
    ],
)
def test_a_code_is_accepted_as_shown_or_pasted(
    client: FlaskClient, login_as: Callable[..., Any], world: World, db: Any, shape: str
) -> None:
    user = login_as("learner")
    code = world.codes["good"]
    grouped = group_code(code)
    typed = {
        "grouped": grouped,
        "en dash": grouped.replace("-", "\u2013"),
        "no-break space": grouped.replace("-", "\u00a0"),
        "tab": f"\t{grouped.replace('-', '')}\t",
    }[shape]
    assert redeem(client, typed).status_code == 302
    assert count(db, Seat, user_id=user.id) == 1


@pytest.mark.parametrize(
    ("label", "status", "message", "reason"),
    [
        ("deactivated", 410, "This code has been deactivated", "code_deactivated"),
        ("future", 403, "This code becomes valid on", "code_not_yet_valid"),
        ("expired", 410, "This code expired on", "code_expired"),
        ("inactive-contract", 403, "Inactive is not active at the moment", "contract_inactive"),
        ("inactive-org", 403, "Closed Org's access is not active", "organization_inactive"),
        ("not-started", 403, "Later starts on", "contract_not_started"),
        ("ended", 403, "Over ended on", "contract_ended"),
        ("managed", 403, "sign in with Acme's own account", "managed_needs_sso"),
    ],
)
def test_each_refusal_names_its_reason(
    client: FlaskClient,
    login_as: Callable[..., Any],
    world: World,
    db: Any,
    label: str,
    status: int,
    message: str,
    reason: str,
) -> None:
    user = login_as("learner")
    response = redeem(client, world.codes[label])
    assert response.status_code == status
    assert message in html.unescape(response.get_data(as_text=True))
    assert count(db, Seat, user_id=user.id) == 0 and count(db, CodeRedemption, user_id=user.id) == 0
    refusal = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "code.refused"))
    assert refusal is not None and refusal.after == {"reason": reason}


@pytest.mark.parametrize(
    "raw",
    [
        "NOSUCHCODE2345678",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "ü" * 300,
        "A" * 5000,
    ],
)
def test_unknown_or_garbage_codes(
    client: FlaskClient, login_as: Callable[..., Any], world: World, raw: str
) -> None:
    login_as("learner")
    response = redeem(client, raw)
    assert response.status_code == 404
    body = response.get_data(as_text=True)  # raw HTML: anything echoed back must be escaped
    assert "We don" in body or "not a code we issue" in body
    assert "<script>alert" not in body


@pytest.mark.parametrize("raw", ["", "   ", " - -- "])
def test_an_empty_code_asks_for_one(
    client: FlaskClient, login_as: Callable[..., Any], world: World, raw: str
) -> None:
    login_as("learner")
    response = redeem(client, raw)
    assert response.status_code == 400
    body = html.unescape(response.get_data(as_text=True))
    assert "Enter a code: the letters and digits" in body
    assert "not a code we issue" not in body and "We don't know" not in body


def test_already_used_code(
    client: FlaskClient, login_as: Callable[..., Any], make_user: Callable[..., Any], world: World
) -> None:
    first = make_user()
    login_as(first)
    assert redeem(client, world.codes["good"]).status_code == 302
    login_as("learner")
    used = redeem(client, world.codes["good"])
    assert used.status_code == 409
    assert "already been used by someone else" in html.unescape(used.get_data(as_text=True))


def test_multi_use_code_stops_at_its_limit(
    client: FlaskClient, login_as: Callable[..., Any], world: World
) -> None:
    for _ in range(2):
        login_as("learner")
        assert redeem(client, world.codes["multi"]).status_code == 302
    login_as("learner")
    third = redeem(client, world.codes["multi"])
    assert third.status_code == 409 and "the 2 times it allows" in html.unescape(
        third.get_data(as_text=True)
    )


def test_one_per_learner_code(
    client: FlaskClient, login_as: Callable[..., Any], world: World
) -> None:
    for _ in range(3):
        login_as("learner")
        assert redeem(client, world.codes["per-learner"]).status_code == 302


def test_contract_full(
    client: FlaskClient, login_as: Callable[..., Any], world: World, db: Any
) -> None:
    login_as("learner")
    assert redeem(client, world.codes["full-a"]).status_code == 302
    user = login_as("learner")
    full = redeem(client, world.codes["full-b"])
    assert full.status_code == 409 and "is full: its only seat is taken" in full.get_data(
        as_text=True
    )
    code = db.session.scalar(
        select(EnrollmentCode).where(EnrollmentCode.code == world.codes["full-b"])
    )
    assert code.times_redeemed == 0 and count(db, CodeRedemption, user_id=user.id) == 0


def test_managed_contract_with_sso_membership(
    client: FlaskClient, login_as: Callable[..., Any], world: World, db: Any
) -> None:
    user = login_as("learner")
    MembershipFactory(
        user=user, organization=world.acme, source=MembershipSource.SSO, managed_by_idp=True
    )
    db.session.commit()
    assert redeem(client, world.codes["managed"]).status_code == 302
    assert count(db, Seat, user_id=user.id) == 1


def test_redeem_link_sends_signed_out_visitors_through_sign_in(
    client: FlaskClient, world: World, login_as: Callable[..., Any]
) -> None:
    code = world.codes["good"]
    out = client.get(f"/redeem/{code}")
    assert out.status_code == 302 and f"next=/redeem/{code}" in out.headers["Location"]
    login_as("learner")
    page = client.get(f"/redeem/{code}").get_data(as_text=True)
    assert f'value="{group_code(code)}"' in page and "Redeem code" in page  # grouped to read
    # However the link was typed or wrapped by a mail program: the code, grouped.
    spaced = " ".join(code[i : i + 3] for i in range(0, len(code), 3)).lower()
    page = client.get(f"/redeem/{quote(spaced)}").get_data(as_text=True)
    assert f'value="{group_code(code)}"' in page
    page = client.get("/learner/redeem", query_string={"code": code.lower()}).get_data(as_text=True)
    assert f'value="{group_code(code)}"' in page


def test_code_entry_is_rate_limited(
    app_factory: Callable[..., Flask], make_user: Callable[..., Any], world: World
) -> None:
    app = app_factory(REDEEM_RATE_LIMIT="3 per minute")
    with app.app_context():
        client = signed_in(app, make_user())
        statuses = [redeem(client, f"WRONG{i}CDE").status_code for i in range(4)]
    assert statuses == [404, 404, 404, 429]


def test_rate_limit_page_is_friendly(
    app_factory: Callable[..., Flask], make_user: Callable[..., Any], world: World
) -> None:
    app = app_factory(REDEEM_RATE_LIMIT="1 per minute")
    with app.app_context():
        client = signed_in(app, make_user())
        redeem(client, "WRONGCDE")
        limited = redeem(client, "WRONGCDE")
    assert limited.status_code == 429
    assert "Too many" in html.unescape(limited.get_data(as_text=True))


def test_refusals_are_audited_for_each_user(
    client: FlaskClient, login_as: Callable[..., Any], world: World, db: Any
) -> None:
    user = login_as("learner")
    redeem(client, world.codes["expired"])
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "code.refused"))
    assert event.actor_id == user.id and event.object_id == str(user.id)
    assert db.session.scalar(select(User).where(User.id == user.id)) is not None
