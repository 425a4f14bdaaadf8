"""Membership reconciliation from the token's organization claim (b2b-rules section 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from portal.models import (
    AuditEvent,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    SeatSource,
    User,
)
from portal.services.access import available_contracts
from portal.services.memberships import (
    ClaimedOrganization,
    MalformedClaim,
    parse_organization_claim,
    reconcile_memberships,
)
from tests.support.factories import (
    ContractFactory,
    MembershipFactory,
    OrganizationFactory,
    SeatFactory,
)

ACME_ID = "a5c3e0d1-7c1b-4a53-9a0e-0000000000a1"
GLOBEX_ID = "b7d4f1e2-8d2c-4b64-8b1f-0000000000b2"


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        (None, []),
        ([], []),
        (["acme", "globex"], [ClaimedOrganization("acme"), ClaimedOrganization("globex")]),
        (["acme", "acme"], [ClaimedOrganization("acme")]),
        ("acme", [ClaimedOrganization("acme")]),
        ({"acme": {"id": ACME_ID}}, [ClaimedOrganization("acme", ACME_ID)]),
        ({"acme": {}}, [ClaimedOrganization("acme")]),
        ({"acme": {"id": ACME_ID, "tier": ["gold"]}}, [ClaimedOrganization("acme", ACME_ID)]),
        ({"acme": {"tier": ["gold"]}}, [ClaimedOrganization("acme")]),
    ],
)
def test_claim_shapes(claim: Any, expected: list[ClaimedOrganization]) -> None:
    assert parse_organization_claim(claim) == expected


@pytest.mark.parametrize(
    "claim", [42, [1, 2], [""], {"acme": "x"}, {"acme": {"id": 5}}, [["acme"]]]
)
def test_malformed_claims_are_refused(claim: Any) -> None:
    with pytest.raises(MalformedClaim):
        parse_organization_claim(claim)


@pytest.fixture
def orgs(db: Any) -> dict[str, Organization]:
    made = {
        "acme": OrganizationFactory(
            name="Acme", key="ACME", keycloak_id=ACME_ID, keycloak_alias="acme"
        ),
        "globex": OrganizationFactory(
            name="Globex", key="GLOBEX", keycloak_id=GLOBEX_ID, keycloak_alias="globex"
        ),
        # Portal-managed: no Keycloak id, never touched by reconciliation.
        "local": OrganizationFactory(name="Local", key="LOCAL", keycloak_alias="local"),
    }
    db.session.commit()
    return made


def memberships(db: Any, user: User) -> dict[str, Membership]:
    rows = db.session.execute(
        select(Organization.keycloak_alias, Membership)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
    ).all()
    return dict(rows)


def test_adds_by_alias_and_by_id(db: Any, orgs: Any, make_user: Callable[..., User]) -> None:
    user = make_user()
    result = reconcile_memberships(
        user, [ClaimedOrganization("acme"), ClaimedOrganization("renamed-alias", GLOBEX_ID)]
    )
    db.session.commit()
    assert sorted(result.added) == ["ACME", "GLOBEX"]
    got = memberships(db, user)
    assert set(got) == {"acme", "globex"}
    assert all(m.source is MembershipSource.SSO for m in got.values())


def test_removes_unclaimed_sso_memberships_but_never_portal_managed_ones(
    db: Any, orgs: Any, make_user: Callable[..., User]
) -> None:
    user = make_user()
    for key in ("acme", "globex", "local"):
        MembershipFactory(user=user, organization=orgs[key], source=MembershipSource.SSO)
    db.session.commit()
    result = reconcile_memberships(user, [ClaimedOrganization("acme")])
    db.session.commit()
    assert result.removed == ["GLOBEX"]
    assert set(memberships(db, user)) == {"acme", "local"}


def test_keep_until_seen_survives_then_is_cleared_when_seen(
    db: Any, orgs: Any, make_user: Callable[..., User]
) -> None:
    user = make_user()
    MembershipFactory(
        user=user, organization=orgs["globex"], source=MembershipSource.CODE, keep_until_seen=True
    )
    db.session.commit()
    first = reconcile_memberships(user, [])
    db.session.commit()
    assert first.kept == ["GLOBEX"] and first.removed == []
    assert memberships(db, user)["globex"].keep_until_seen is True

    second = reconcile_memberships(user, [ClaimedOrganization("globex")])
    db.session.commit()
    assert second.confirmed == ["GLOBEX"]
    assert memberships(db, user)["globex"].keep_until_seen is False

    third = reconcile_memberships(user, [])  # seen once, now gone: removed like any SSO membership
    db.session.commit()
    assert third.removed == ["GLOBEX"]
    assert memberships(db, user) == {}


def test_unknown_claimed_organizations_are_ignored(
    db: Any, orgs: Any, make_user: Callable[..., User]
) -> None:
    user = make_user()
    result = reconcile_memberships(
        user, [ClaimedOrganization("initech"), ClaimedOrganization("local")]
    )
    db.session.commit()
    assert result.added == []  # initech unknown; local has no Keycloak id
    assert memberships(db, user) == {}


def test_auto_contracts_follow_membership_and_code_access_is_kept(
    db: Any, orgs: Any, make_user: Callable[..., User]
) -> None:
    user = make_user()
    acme, globex = orgs["acme"], orgs["globex"]
    ContractFactory(
        organization=acme,
        name="Acme auto",
        slug="auto",
        membership_type=MembershipType.AUTO,
        unlimited=True,
    )
    code = ContractFactory(
        organization=globex,
        name="Globex code",
        slug="code",
        membership_type=MembershipType.CODE,
        seat_limit=5,
    )
    ContractFactory(
        organization=acme,
        name="Old",
        slug="old",
        active=False,
        membership_type=MembershipType.AUTO,
        unlimited=True,
    )
    SeatFactory(contract=code, user=user, source=SeatSource.CODE)
    db.session.commit()
    assert [c.name for c in available_contracts(user)] == ["Globex code"]

    reconcile_memberships(user, [ClaimedOrganization("acme")])
    db.session.commit()
    assert [c.name for c in available_contracts(user)] == ["Acme auto", "Globex code"]

    reconcile_memberships(user, [])
    db.session.commit()
    assert [c.name for c in available_contracts(user)] == ["Globex code"]


def test_managed_contract_needs_code_and_confirmed_membership(
    db: Any, orgs: Any, make_user: Callable[..., User]
) -> None:
    user = make_user()
    managed = ContractFactory(
        organization=orgs["acme"],
        name="Managed",
        slug="m",
        membership_type=MembershipType.MANAGED,
        seat_limit=3,
    )
    SeatFactory(contract=managed, user=user, source=SeatSource.CODE)
    MembershipFactory(
        user=user, organization=orgs["acme"], source=MembershipSource.CODE, keep_until_seen=True
    )
    db.session.commit()
    assert available_contracts(user) == []  # code redeemed, but not signed in through Acme yet
    # Named in the organization claim after a password login: Keycloak lists hand-added members
    # (the portal pushes code redeemers) there too, so that is not Acme's own credentials.
    reconcile_memberships(user, [ClaimedOrganization("acme")])
    db.session.commit()
    assert available_contracts(user) == []
    orgs["acme"].idp_aliases = ["acme-idp"]
    reconcile_memberships(user, [ClaimedOrganization("acme")], identity_provider="acme-idp")
    db.session.commit()
    assert [c.name for c in available_contracts(user)] == ["Managed"]


def test_reconciliation_is_audited(db: Any, orgs: Any, make_user: Callable[..., User]) -> None:
    user = make_user()
    reconcile_memberships(user, [ClaimedOrganization("acme")])
    db.session.commit()
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "membership.reconciled")
    )
    assert event is not None and event.after["added"] == ["ACME"]
    reconcile_memberships(user, [ClaimedOrganization("acme")])  # nothing changes: no event
    db.session.commit()
    assert len(db.session.scalars(select(AuditEvent)).all()) == 1


@pytest.mark.parametrize("n", [10, 200])
def test_query_count_does_not_grow_with_organizations(
    db: Any, make_user: Callable[..., User], count_queries: Callable[[], Any], n: int
) -> None:
    orgs = [
        OrganizationFactory(
            name=f"Org {i}",
            key=f"K{i}",
            keycloak_id=f"00000000-0000-4000-8000-{i:012d}",
            keycloak_alias=f"org{i}",
        )
        for i in range(2 * n)
    ]
    user = make_user()
    for org in orgs[n:]:  # member of the second half; the claim names the first half
        MembershipFactory(user=user, organization=org, source=MembershipSource.SSO)
    db.session.commit()
    claimed = [ClaimedOrganization(o.keycloak_alias or "") for o in orgs[:n]]
    with count_queries() as counter:
        result = reconcile_memberships(user, claimed)
        db.session.commit()
    assert len(result.added) == n and len(result.removed) == n
    assert counter.count <= 8, "\n".join(s[:90] for s in counter.statements)
