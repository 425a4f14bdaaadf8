"""Managed contracts need the organization's own credentials, as Keycloak records them (b2b-rules
section 3, keycloak.md section 9), and organizations follow Keycloak (re-sync, scheduled sync): real
HTTP between the portal and the Keycloak emulator, jobs run inline after each commit."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import replace
from typing import Any

import requests
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    BackgroundJob,
    Contract,
    EnrollmentCode,
    JobState,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    Seat,
    User,
    utcnow,
)
from portal.services.access import available_contracts
from tests.support.factories import ContractFactory, EnrollmentCodeFactory, UserFactory
from tests.support.rows import one

ACME_ID = "0a000000-0000-4000-8000-00000000ac01"
SSO_REFUSAL = "sign in through Acme Corporation's single sign-on"


def user(email: str) -> User:
    db.session.expire_all()
    return one(User, email=email)


def acme() -> Organization:
    db.session.expire_all()
    return one(Organization, key="ACME")


def acme_membership(email: str) -> Membership:
    db.session.expire_all()
    found = db.session.scalar(
        select(Membership).where(
            Membership.user_id == user(email).id, Membership.organization_id == acme().id
        )
    )
    assert found is not None, f"{email} is not an Acme member"
    return found


def unused_code(slug: str) -> str:
    db.session.expire_all()
    code = db.session.scalar(
        select(EnrollmentCode.code)
        .join(Contract, Contract.id == EnrollmentCode.contract_id)
        .where(
            Contract.slug == slug,
            EnrollmentCode.times_redeemed == 0,
            EnrollmentCode.deactivated_at.is_(None),
        )
        .order_by(EnrollmentCode.id)
        .limit(1)
    )
    assert code is not None
    return code


def redeem(sso: Any, browser: Any, code: str) -> requests.Response:
    return browser.post(
        f"{sso.portal_url}/learner/redeem", data={"code": code}, allow_redirects=False
    )


def available(email: str) -> set[str]:
    db.session.expire_all()
    return {c.slug for c in available_contracts(user(email))}


def keycloak_password_member(sso: Any, email: str) -> str:
    """A Keycloak account with a password, added to Acme through the admin API (UNMANAGED)."""
    from tests.support.emulators import KeycloakAdminApi

    api = KeycloakAdminApi(sso.keycloak_url)
    created = api.post("users", {"username": email, "email": email, "firstName": "Carl",
                                 "lastName": "Contractor", "enabled": True, "emailVerified": True})  # fmt: skip
    assert created.status_code == 201, created.text
    user_id = created.headers["Location"].rsplit("/", 1)[-1]
    reset = requests.put(
        f"{sso.keycloak_url}/admin/realms/b2b-demo/users/{user_id}/reset-password",
        headers=api.headers,
        json={"type": "password", "value": "demo", "temporary": False},
        timeout=10,
    )
    assert reset.status_code == 204, reset.text
    assert api.post(f"organizations/{ACME_ID}/members", user_id).status_code == 201
    return user_id


def membership_type(sso: Any, email: str) -> str:
    from tests.support.emulators import KeycloakAdminApi

    api = KeycloakAdminApi(sso.keycloak_url)
    members = api.get(f"organizations/{ACME_ID}/members", max=-1)
    return str(next(m for m in members if m["email"] == email)["membershipType"])


def test_an_identity_provider_login_passes_the_managed_check(sso: Any) -> None:
    browser, final = sso.login("learner@acme.example")  # sent through acme-idp by her domain
    assert final.status_code == 200
    membership = acme_membership("learner@acme.example")
    assert membership.managed_by_idp and membership.through_sso
    login = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "membership.reconciled")
    )
    assert login is not None and login.after["added"] == ["ACME"]

    answer = redeem(sso, browser, unused_code("acme-leadership"))
    assert answer.status_code == 302, answer.text[:500]
    assert "acme-leadership" in available("learner@acme.example")
    dashboard = browser.get(f"{sso.portal_url}/learner/")
    assert "Acme Leadership Circle" in dashboard.text


def test_a_password_login_of_a_member_of_the_same_organization_is_refused(sso: Any) -> None:
    keycloak_password_member(sso, "carl@partners.example")
    browser, final = sso.login("carl@partners.example")
    assert final.status_code == 200
    membership = acme_membership("carl@partners.example")
    assert membership.source is MembershipSource.SSO  # Acme is in his claim...
    assert not membership.managed_by_idp and not membership.through_sso  # ...not its credentials

    answer = redeem(sso, browser, unused_code("acme-leadership"))
    assert answer.status_code == 403
    assert SSO_REFUSAL in html.unescape(answer.text)
    carl = user("carl@partners.example")
    assert db.session.scalar(select(Seat.id).where(Seat.user_id == carl.id)) is None
    refused = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "code.refused", AuditEvent.object_id == str(carl.id)
        )
    )
    assert refused is not None and refused.after == {"reason": "managed_needs_sso"}
    assert "acme-leadership" not in available("carl@partners.example")


def test_a_code_redeemer_pushed_to_keycloak_does_not_pass_after_signing_in_again(
    sso: Any,
) -> None:
    org = acme()
    contract = ContractFactory(
        organization=org, name="Acme Open Seats", slug="acme-open-seats",
        membership_type=MembershipType.CODE, seat_limit=5,
    )  # fmt: skip
    code = EnrollmentCodeFactory(contract=contract).code
    db.session.commit()

    browser, _ = sso.login("newcomer@example.com")  # a password account in no organization
    assert redeem(sso, browser, code).status_code == 302
    kept = acme_membership("newcomer@example.com")
    assert kept.source is MembershipSource.CODE and kept.keep_until_seen
    assert membership_type(sso, "newcomer@example.com") == "UNMANAGED"  # pushed by the portal

    again, _ = sso.login("newcomer@example.com")  # Acme is in the claim now
    confirmed = acme_membership("newcomer@example.com")
    assert not confirmed.keep_until_seen
    assert not confirmed.managed_by_idp and not confirmed.through_sso
    answer = redeem(sso, again, unused_code("acme-leadership"))
    assert answer.status_code == 403
    assert SSO_REFUSAL in html.unescape(answer.text)
    assert "acme-open-seats" in available("newcomer@example.com")
    assert "acme-leadership" not in available("newcomer@example.com")


def test_a_later_password_login_clears_the_identity_provider_confirmation(sso: Any) -> None:
    """The login decides: Ada passed through acme-idp; the same membership checked after a login
    whose token names no identity provider no longer counts."""
    from portal.services.memberships import ClaimedOrganization, reconcile_memberships

    sso.login("learner@acme.example")
    assert acme_membership("learner@acme.example").managed_by_idp
    ada = user("learner@acme.example")
    result = reconcile_memberships(ada, [ClaimedOrganization("acme", ACME_ID)])
    db.session.commit()
    assert result.idp_cleared == ["ACME"]
    assert not acme_membership("learner@acme.example").through_sso
    other_idp = reconcile_memberships(
        ada, [ClaimedOrganization("acme", ACME_ID)], identity_provider="google"
    )
    db.session.commit()
    assert other_idp.idp_confirmed == [] and not acme_membership("learner@acme.example").through_sso


def test_the_staff_resync_of_an_organization_updates_its_memberships(sso: Any) -> None:
    sso.login("hired@acme.example")  # provisioned by acme-idp: a MANAGED member in Keycloak
    assert membership_type(sso, "hired@acme.example") == "MANAGED"
    hired = acme_membership("hired@acme.example")
    hired.managed_by_idp = False  # as if the portal had missed it
    org = acme()
    org.idp_aliases = []  # and as if the IdP had been linked since the last pull
    gone = UserFactory(email="gone@acme.example")  # Keycloak does not list them
    waiting = UserFactory(email="waiting@acme.example")
    db.session.add_all([
        Membership(user_id=gone.id, organization_id=org.id, source=MembershipSource.SSO),
        Membership(user_id=waiting.id, organization_id=org.id, source=MembershipSource.CODE,
                   keep_until_seen=True),
    ])  # fmt: skip
    db.session.commit()
    grace = acme_membership("admin@acme.example")  # staff-made, kept until Keycloak names her
    assert grace.keep_until_seen

    staff, _ = sso.login("staff@portal.example")
    page = staff.get(f"{sso.portal_url}/staff/organizations/{org.id}")
    assert "Re-sync members" in page.text
    answer = staff.post(
        f"{sso.portal_url}/staff/organizations/{org.id}/keycloak/resync", allow_redirects=False
    )
    assert answer.status_code == 302
    job = db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == "keycloak.resync_organization")
    )
    assert job is not None and job.state is JobState.SUCCEEDED, job and job.last_error

    assert acme().idp_aliases == ["acme-idp"]
    assert acme_membership("hired@acme.example").through_sso  # MANAGED in Keycloak
    assert not acme_membership("admin@acme.example").keep_until_seen  # matched by email
    assert not acme_membership("admin@acme.example").through_sso  # UNMANAGED
    assert acme_membership("admin@acme.example").is_manager
    member_ids = set(
        db.session.scalars(select(Membership.user_id).where(Membership.organization_id == org.id))
    )
    assert gone.id not in member_ids and waiting.id in member_ids
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "membership.organization_resynced")
    )
    assert event is not None and event.after["removed"] == [gone.id]
    queued = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "job.queued", AuditEvent.object_id == str(job.id)
        )
    )
    assert queued is not None and queued.actor_id == user("staff@portal.example").id


def test_the_scheduled_organization_sync_runs_and_waits_for_its_interval(sso: Any) -> None:
    from portal.core.unit_of_work import transaction
    from portal.services.scheduling import fire

    def pulls() -> list[BackgroundJob]:
        return list(
            db.session.scalars(
                select(BackgroundJob).where(BackgroundJob.kind == "keycloak.pull_organizations")
            )
        )

    def tick(minutes: int) -> bool:
        with transaction():
            return fire("due-syncs", start + dt.timedelta(minutes=minutes)) is not None

    org = acme()
    org.idp_aliases = []
    org.name = "Stale Acme"
    db.session.commit()
    start = utcnow()

    assert tick(0)  # nothing ran yet: due now (inline: runs after the commit)
    db.session.expire_all()
    [job] = pulls()
    assert job.state is JobState.SUCCEEDED, job.last_error
    assert acme().name == "Acme Corporation" and acme().idp_aliases == ["acme-idp"]
    assert not tick(0)  # the same minute's period runs once
    assert tick(1) and len(pulls()) == 1  # within KEYCLOAK_ORG_SYNC_INTERVAL_SECONDS

    settings = sso.app.config["PORTAL"]
    sso.app.config["PORTAL"] = replace(settings, keycloak_org_sync_interval_seconds=0)
    assert tick(2) and len(pulls()) == 1  # 0 turns it off
