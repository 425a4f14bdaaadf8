"""The organization's own credentials, as Keycloak records them (b2b-rules section 3): the rules of
``Membership.through_sso``, login reconciliation with the ``identity_provider`` claim, the
per-organization re-sync, and the scheduled organization pull (no servers: see
``tests/integration/test_managed_credentials.py`` for the same over HTTP)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.jobs import JobKind
from portal.models import (
    BackgroundJob,
    JobState,
    Membership,
    MembershipSource,
    MembershipType,
    SeatSource,
    User,
    utcnow,
)
from portal.services.access import available_contracts
from portal.services.memberships import (
    ClaimedOrganization,
    KeycloakMember,
    identity_provider_of,
    reconcile_memberships,
    reconcile_organization_members,
)
from portal.services.organization_sync import (
    record_idp_aliases,
    schedule_organization_sync,
    upsert_from_keycloak,
)
from tests.support.factories import (
    ContractFactory,
    MembershipFactory,
    OrganizationFactory,
    SeatFactory,
)

ACME_ID = "a5c3e0d1-7c1b-4a53-9a0e-0000000000a1"


@pytest.fixture
def acme(db: Any) -> Any:
    org = OrganizationFactory(
        name="Acme",
        key="ACME",
        keycloak_id=ACME_ID,
        keycloak_alias="acme",
        idp_aliases=["acme-idp"],
    )
    db.session.commit()
    return org


def membership(db: Any, user: User, org: Any) -> Membership:
    db.session.expire_all()
    found = db.session.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organization_id == org.id
        )
    )
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"identity_provider": "acme-idp"}, "acme-idp"),
        ({}, None),
        ({"identity_provider": ""}, None),
        ({"identity_provider": ["acme-idp"]}, None),
        (None, None),
    ],
)
def test_the_identity_provider_claim(claims: Any, expected: str | None) -> None:
    assert identity_provider_of(claims) == expected


def test_a_login_through_a_linked_identity_provider_confirms_and_a_password_login_does_not(
    db: Any, acme: Any, make_user: Callable[..., User]
) -> None:
    ada, alan = make_user(), make_user()
    claim = [ClaimedOrganization("acme")]
    result = reconcile_memberships(ada, claim, identity_provider="acme-idp")
    reconcile_memberships(alan, claim)  # password: no identity_provider claim
    db.session.commit()
    assert result.added == ["ACME"]
    assert membership(db, ada, acme).through_sso
    assert not membership(db, alan, acme).through_sso
    # another organization's (or a social) identity provider is not Acme's credentials
    reconcile_memberships(alan, claim, identity_provider="google")
    db.session.commit()
    assert not membership(db, alan, acme).through_sso


def test_a_confirmed_code_redeemer_still_needs_the_identity_provider(
    db: Any, acme: Any, make_user: Callable[..., User]
) -> None:
    """The bug: a redeemer the portal pushed into Keycloak is in the claim at the next login."""
    user = make_user()
    managed = ContractFactory(
        organization=acme, name="Managed", slug="m", membership_type=MembershipType.MANAGED,
        seat_limit=3,
    )  # fmt: skip
    SeatFactory(contract=managed, user=user, source=SeatSource.CODE)
    MembershipFactory(
        user=user, organization=acme, source=MembershipSource.CODE, keep_until_seen=True
    )
    db.session.commit()
    reconcile_memberships(user, [ClaimedOrganization("acme")])
    db.session.commit()
    assert not membership(db, user, acme).keep_until_seen
    assert available_contracts(user) == []
    reconcile_memberships(user, [ClaimedOrganization("acme")], identity_provider="acme-idp")
    db.session.commit()
    assert [c.name for c in available_contracts(user)] == ["Managed"]


def test_through_sso_is_one_rule_in_python_and_sql(
    db: Any, acme: Any, make_user: Callable[..., User]
) -> None:
    yes = MembershipFactory(user=make_user(), organization=acme, managed_by_idp=True)
    no = MembershipFactory(user=make_user(), organization=acme, source=MembershipSource.SSO)
    db.session.commit()
    assert (yes.through_sso, no.through_sso) == (True, False)
    in_sql = set(
        db.session.scalars(
            select(Membership.id).where(Membership.through_sso, Membership.id.in_([yes.id, no.id]))
        )
    )
    assert in_sql == {yes.id}


def test_a_resync_promotes_managed_members_and_never_demotes_a_login(
    db: Any, acme: Any, make_user: Callable[..., User]
) -> None:
    user = make_user()
    reconcile_memberships(
        user, [ClaimedOrganization("acme", ACME_ID, "MANAGED")], source="staff-resync"
    )
    db.session.commit()
    assert membership(db, user, acme).through_sso
    reconcile_memberships(
        user, [ClaimedOrganization("acme", ACME_ID, "UNMANAGED")], source="staff-resync"
    )
    db.session.commit()
    assert membership(db, user, acme).through_sso  # the next login decides


def test_the_organization_resync_reconciles_every_membership(
    db: Any, acme: Any, make_user: Callable[..., User]
) -> None:
    listed = make_user(email="listed@acme.example")
    listed.keycloak_sub = "kc-listed"
    waiting = make_user(email="waiting@acme.example")
    gone = make_user(email="gone@acme.example")
    new = make_user(email="new@acme.example")
    kept = make_user(email="kept@acme.example")
    MembershipFactory(user=listed, organization=acme, source=MembershipSource.SSO)
    MembershipFactory(
        user=waiting, organization=acme, source=MembershipSource.CODE, keep_until_seen=True
    )
    MembershipFactory(user=gone, organization=acme, source=MembershipSource.SSO)
    MembershipFactory(
        user=kept, organization=acme, source=MembershipSource.STAFF, keep_until_seen=True
    )
    db.session.commit()
    result = reconcile_organization_members(
        acme,
        [
            KeycloakMember("kc-listed", "other@acme.example", "MANAGED"),
            KeycloakMember("kc-waiting", "waiting@acme.example", "UNMANAGED"),
            KeycloakMember("kc-new", "new@acme.example", "UNMANAGED"),
            KeycloakMember("kc-stranger", "stranger@acme.example", "MANAGED"),
        ],
    )
    db.session.commit()
    assert result.added == [new.id] and result.removed == [gone.id]
    assert result.confirmed == [waiting.id] and result.idp_confirmed == [listed.id]
    assert result.unknown == 1
    assert membership(db, listed, acme).through_sso
    assert not membership(db, waiting, acme).keep_until_seen
    assert not membership(db, new, acme).through_sso
    assert membership(db, kept, acme).keep_until_seen  # not listed, but kept until seen


def test_portal_only_organizations_are_never_resynced(
    db: Any, make_user: Callable[..., User]
) -> None:
    local = OrganizationFactory(name="Local", key="LOCAL")
    MembershipFactory(user=make_user(), organization=local)
    db.session.commit()
    assert reconcile_organization_members(local, []).removed == []
    assert len(db.session.scalars(select(Membership)).all()) == 1


def test_the_pull_and_the_links_cache_the_identity_providers(db: Any, acme: Any) -> None:
    counts = upsert_from_keycloak(
        [
            {"id": ACME_ID, "alias": "acme", "name": "Acme"},
            {"id": "kc-new", "alias": "newco", "name": "New Co"},
        ],
        {ACME_ID: ["acme-idp", "acme-azure"], "kc-new": ["newco-idp"]},
    )
    db.session.commit()
    assert counts["created"] == 1 and counts["updated"] == 1
    db.session.expire_all()
    assert acme.idp_aliases == ["acme-azure", "acme-idp"]
    assert record_idp_aliases(acme, ["acme-idp"]) is True
    assert record_idp_aliases(acme, ["acme-idp"]) is False
    assert acme.idp_aliases == ["acme-idp"]


def test_the_scheduled_pull_is_recorded_once_per_interval(app: Flask, db: Any) -> None:
    first = schedule_organization_sync()
    assert first is not None and first.kind == str(JobKind.KEYCLOAK_PULL_ORGANIZATIONS)
    assert schedule_organization_sync() is None  # one still waiting
    first.state = JobState.SUCCEEDED
    db.session.flush()
    assert schedule_organization_sync() is None  # within the interval
    later = utcnow() + dt.timedelta(seconds=3601)
    assert schedule_organization_sync(later) is not None
    db.session.rollback()
    app.config["PORTAL"] = replace(app.config["PORTAL"], keycloak_org_sync_interval_seconds=0)
    assert schedule_organization_sync(later) is None
    assert db.session.scalars(select(BackgroundJob)).all() == []
