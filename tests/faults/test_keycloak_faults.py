"""Keycloak slow or down: pushing a code redeemer into their Keycloak organization is retried until
Keycloak answers and then happens once; sign-in does not hang on a Keycloak that does not answer.

``tests/integration/test_login_rejections.py`` already proves the sign-in page answers 503 with a
clear message when Keycloak refuses connections, and ``tests/integration/test_keycloak_jobs.py``
that a push keeps failing visibly while Keycloak stays down; these add Keycloak coming back, a
Keycloak too slow to answer, and the learner journey around them.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pytest
from flask import Flask

from portal.extensions import db
from portal.jobs import record_job
from portal.models import JobState
from tests.faults.conftest import (
    Slow,
    audit_count,
    build_world,
    jobs_of_kind,
    ledger,
    run_until_settled,
    wait_until_due,
)
from tests.support.emulators import DEMO_REALM, KeycloakAdminApi
from tests.support.factories import OrganizationFactory
from tests.support.live_server import free_port, live_server
from tests.support.sessions import signed_in
from tests.support.world import ACME_KEYCLOAK_ID

NEWCOMER = "newcomer@example.com"  # in the demo realm, in no organization
REDEEMED = {
    "seats": 1,
    "redemptions": 1,
    "code_uses": 1,
    "memberships": 1,
    "orders": 0,
    "fulfilled_orders": 0,
    "enrollments": 0,
    "jobs": {"keycloak.push_member": 1},
}


def keycloak_emulator() -> Any:
    from emulators.keycloak import create_app as create_keycloak

    return create_keycloak({"KEYCLOAK_EMULATOR_REALMS": str(DEMO_REALM)})


@pytest.fixture
def portal_for(
    impatient_portal: Callable[..., tuple[Flask, Any]],
) -> Callable[[str], tuple[Flask, Any]]:
    """A portal on ``keycloak_url`` with a 1 s HTTP timeout and 1 s first backoff, and its worker."""

    def make(keycloak_url: str) -> tuple[Flask, Any]:
        return impatient_portal(KEYCLOAK_SERVER_URL=keycloak_url)

    return make


def redeem_through_the_portal(app: Flask, world: Any) -> None:
    redeemed = signed_in(app, world.learner_ids[0]).post(
        "/learner/redeem", data={"code": world.codes[0]}
    )
    assert redeemed.status_code == 302, redeemed.get_data(as_text=True)[:500]


def members_named(api: KeycloakAdminApi, email: str) -> int:
    members = api.get(f"organizations/{ACME_KEYCLOAK_ID}/members", max=-1)
    return sum(1 for m in members if m["email"] == email)


def test_keycloak_down_then_back_the_push_is_retried_and_happens_once(
    portal_for: Callable[[str], tuple[Flask, Any]], stack: ExitStack
) -> None:
    """Proves a redemption while Keycloak refuses connections gives the learner their seat at once
    and keeps the Keycloak push as a job that fails its attempt with a clear reason and waits; once
    Keycloak is up again the retry adds the learner to the organization, once."""
    port = free_port()
    app, jobs = portal_for(f"http://127.0.0.1:{port}")
    world = build_world(emails=[NEWCOMER], keycloak_id=ACME_KEYCLOAK_ID)

    redeem_through_the_portal(app, world)
    jobs.run()

    [job] = jobs_of_kind("keycloak.push_member")
    assert job.state in (JobState.PENDING, JobState.QUEUED) and job.attempts == 1
    assert "Keycloak" in (job.last_error or ""), job.last_error
    assert ledger(world.contract_id) == REDEEMED  # the seat did not wait for Keycloak

    url = stack.enter_context(live_server(keycloak_emulator(), port=port))  # Keycloak is back
    wait_until_due(job.id)
    jobs.run()

    [done] = jobs_of_kind("keycloak.push_member")
    assert done.state is JobState.SUCCEEDED and done.attempts == 2, done.last_error
    assert members_named(KeycloakAdminApi(url), NEWCOMER) == 1
    assert audit_count("keycloak.member_pushed") == 1
    assert ledger(world.contract_id) == REDEEMED


def test_keycloak_too_slow_to_answer_the_push_adds_the_learner_once(
    portal_for: Callable[[str], tuple[Flask, Any]], stack: ExitStack
) -> None:
    """Proves a Keycloak slower than the timeout neither hangs the push nor adds anyone twice:
    Keycloak adds the member but answers after the 1 s timeout; whatever is sent again (by the
    job's retry, or by python-keycloak, which re-sends a timed-out POST once itself) meets
    "already a member", which counts as done: one membership in Keycloak, one audit event."""
    members = f"/organizations/{ACME_KEYCLOAK_ID}/members"
    url = stack.enter_context(
        live_server(Slow(keycloak_emulator(), "POST", members, 1.5, after=True))
    )
    app, jobs = portal_for(url)
    api = KeycloakAdminApi(url)
    world = build_world(emails=[NEWCOMER], keycloak_id=ACME_KEYCLOAK_ID)

    redeem_through_the_portal(app, world)
    done = run_until_settled(jobs, "keycloak.push_member")

    assert done.state is JobState.SUCCEEDED, done.last_error
    assert members_named(api, NEWCOMER) == 1
    assert audit_count("keycloak.member_pushed") == 1
    assert ledger(world.contract_id) == REDEEMED


def test_keycloak_slow_to_confirm_a_new_organization_still_links_it_once(
    portal_for: Callable[[str], tuple[Flask, Any]], stack: ExitStack
) -> None:
    """Proves creating a portal organization in Keycloak survives a lost answer: Keycloak creates
    it but answers after the timeout. The job must end linked to that one organization (a retry
    finds it by alias), not fail for good on the "already exists" its own re-send provokes."""
    url = stack.enter_context(
        live_server(Slow(keycloak_emulator(), "POST", "/b2b-demo/organizations", 1.5, after=True))
    )
    _, jobs = portal_for(url)
    api = KeycloakAdminApi(url)
    org = OrganizationFactory(name="Umbrella Health", key="UMBRELLA")
    db.session.commit()
    record_job("keycloak.create_organization", {"organization_id": org.id})
    db.session.commit()

    done = run_until_settled(jobs, "keycloak.create_organization")

    created = api.get("organizations", q="alias:umbrella")
    assert len(created) == 1
    assert done.state is JobState.SUCCEEDED, done.last_error
    db.session.refresh(org)
    assert org.keycloak_id == created[0]["id"]


def test_sign_in_answers_503_when_keycloak_is_too_slow(
    app_factory: Callable[..., Flask], stack: ExitStack
) -> None:
    """Proves sign-in is bounded by HTTP_TIMEOUT_SECONDS like every outbound call: a Keycloak that
    accepts the connection but takes longer than that to send its discovery document gets the
    same clear 503 page as one that refuses connections, instead of holding the request (and a
    server thread) for as long as Keycloak takes."""
    slow = Slow(keycloak_emulator(), "GET", "/.well-known/openid-configuration", 2)
    url = stack.enter_context(live_server(slow))
    app = app_factory(KEYCLOAK_SERVER_URL=url, HTTP_TIMEOUT_SECONDS=1)
    with app.app_context():
        page = app.test_client().get("/auth/login")
    assert page.status_code == 503, (
        f"HTTP {page.status_code} after Keycloak's slow answer: the discovery request had no timeout"
    )
    assert "cannot be reached right now" in html.unescape(page.get_data(as_text=True))
