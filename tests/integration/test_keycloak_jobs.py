"""Keycloak admin jobs against the emulator, through a real RQ worker (a worker process against
Redis in CI): pushing members, creating and pulling organizations, re-syncing a learner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.demo import seed_demo
from portal.extensions import db
from portal.jobs import record_job
from portal.models import BackgroundJob, JobState, Membership, Organization, User
from tests.conftest import KeycloakPortal
from tests.support.factories import OrganizationFactory
from tests.support.rows import one

ACME_ID = "0a000000-0000-4000-8000-00000000ac01"
GLOBEX_ID = "0a000000-0000-4000-8000-00000000ac02"


@pytest.fixture
def kc(keycloak_portal: KeycloakPortal) -> KeycloakPortal:
    return keycloak_portal


def run_job(env: Any, kind: str, payload: dict[str, Any], **kw: Any) -> BackgroundJob:
    job = record_job(kind, payload, **kw)
    db.session.commit()
    env.jobs.run()
    db.session.expire_all()
    done = db.session.get(BackgroundJob, job.id)
    assert done is not None
    return done


def by_email(email: str) -> User:
    return one(User, email=email)


def test_push_member_adds_then_409_is_success(kc: Any) -> None:
    alan = by_email("learner@globex.example")  # in Keycloak, in no organization
    globex = db.session.scalar(select(Organization).where(Organization.key == "GLOBEX"))
    assert "learner@globex.example" not in kc.api.member_emails(GLOBEX_ID)

    first = run_job(kc, "keycloak.push_member", {"user_id": alan.id, "organization_id": globex.id})
    assert first.state is JobState.SUCCEEDED, first.last_error
    assert "learner@globex.example" in kc.api.member_emails(GLOBEX_ID)

    again = run_job(kc, "keycloak.push_member", {"user_id": alan.id, "organization_id": globex.id})
    assert again.state is JobState.SUCCEEDED, again.last_error  # 409 already a member = done


def test_push_member_creates_a_keycloak_account_when_needed(kc: Any) -> None:
    new = User(email="fresh@globex.example", name="Fresh Person")
    db.session.add(new)
    db.session.commit()
    globex = db.session.scalar(select(Organization).where(Organization.key == "GLOBEX"))
    done = run_job(kc, "keycloak.push_member", {"user_id": new.id, "organization_id": globex.id})
    assert done.state is JobState.SUCCEEDED, done.last_error
    assert "fresh@globex.example" in kc.api.member_emails(GLOBEX_ID)


def test_push_member_to_unlinked_organization_fails_clearly(kc: Any) -> None:
    local = OrganizationFactory(name="Local Only", key="LOCAL")
    db.session.commit()
    alan = by_email("learner@globex.example")
    done = run_job(kc, "keycloak.push_member", {"user_id": alan.id, "organization_id": local.id})
    assert done.state is JobState.FAILED
    assert "not linked to a Keycloak organization" in (done.last_error or "")
    assert done.attempts == 1  # permanent: not retried


def test_create_organization_then_retry_links_instead_of_duplicating(kc: Any) -> None:
    org = OrganizationFactory(name="Umbrella Health", key="UMBRELLA")
    db.session.commit()
    done = run_job(kc, "keycloak.create_organization", {"organization_id": org.id})
    assert done.state is JobState.SUCCEEDED, done.last_error
    db.session.refresh(org)
    assert org.keycloak_alias == "umbrella" and org.keycloak_id
    created = kc.api.get("organizations", q="alias:umbrella")
    assert [o["id"] for o in created] == [org.keycloak_id]

    # A retry after a create whose result was lost (id not saved) links the existing one.
    saved_id = org.keycloak_id
    org.keycloak_id = None
    db.session.commit()
    again = run_job(kc, "keycloak.create_organization", {"organization_id": org.id})
    assert again.state is JobState.SUCCEEDED, again.last_error
    db.session.refresh(org)
    assert org.keycloak_id == saved_id
    assert len(kc.api.get("organizations", q="alias:umbrella")) == 1


def test_pull_creates_and_updates_but_never_changes_a_key(kc: Any) -> None:
    acme = db.session.scalar(select(Organization).where(Organization.key == "ACME"))
    acme.name = "Old Acme Name"
    db.session.commit()
    for i in range(12):  # more than one default page (10) of organizations
        assert (
            kc.api.post(
                "organizations", {"name": f"Pulled {i:02d}", "alias": f"pulled-{i:02d}"}
            ).status_code
            == 201
        )
    done = run_job(kc, "keycloak.pull_organizations", {})
    assert done.state is JobState.SUCCEEDED, done.last_error
    db.session.expire_all()
    acme = db.session.scalar(select(Organization).where(Organization.keycloak_id == ACME_ID))
    assert acme.key == "ACME" and acme.name == "Acme Corporation"
    initech = db.session.scalar(
        select(Organization).where(Organization.keycloak_alias == "initech")
    )
    assert initech is not None and initech.key == "INITECH"
    pulled = db.session.scalars(select(Organization).where(Organization.key.like("PULLED_%"))).all()
    assert len(pulled) == 12


def test_resync_reads_memberships_from_keycloak(kc: Any) -> None:
    alan = by_email("learner@globex.example")
    alan.keycloak_sub = kc.api.user_id("learner@globex.example")
    db.session.commit()
    assert kc.api.post(f"organizations/{GLOBEX_ID}/members", alan.keycloak_sub).status_code == 201
    done = run_job(kc, "keycloak.resync_member", {"user_id": alan.id})
    assert done.state is JobState.SUCCEEDED, done.last_error
    orgs = set(
        db.session.scalars(
            select(Organization.key)
            .join(Membership, Membership.organization_id == Organization.id)
            .where(Membership.user_id == alan.id)
        )
    )
    assert orgs == {"GLOBEX"}


def test_keycloak_down_is_retried_then_failed_visibly_and_nothing_is_lost(
    rq_app_factory: Callable[..., Flask], job_runner_for: Callable[..., Any]
) -> None:
    app = rq_app_factory(KEYCLOAK_SERVER_URL="http://127.0.0.1:9", JOB_BACKOFF_BASE_SECONDS=0)
    with app.app_context():
        seed_demo()
        db.session.commit()
        alan = by_email("learner@globex.example")
        globex = db.session.scalar(select(Organization).where(Organization.key == "GLOBEX"))
        job = record_job(
            "keycloak.push_member",
            {"user_id": alan.id, "organization_id": globex.id},
            max_attempts=3,
        )
        db.session.commit()
        job_runner_for(app).run()
        db.session.expire_all()
        failed = db.session.get(BackgroundJob, job.id)
        assert failed.state is JobState.FAILED
        assert failed.attempts == 3  # transient: retried up to the limit
        assert "Keycloak" in (failed.last_error or "")
        assert failed.payload == {
            "user_id": alan.id,
            "organization_id": globex.id,
        }  # retryable as is
