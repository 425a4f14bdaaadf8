"""Users from ID-token claims, and the staff buttons that queue Keycloak jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.core.domain_errors import Conflict, DomainError
from portal.models import BackgroundJob, User
from portal.services.users import user_from_claims
from tests.support.factories import OrganizationFactory


def claims(**values: Any) -> dict[str, Any]:
    return {
        "sub": "kc-sub-1",
        "email": "Ada@Example.COM",
        "email_verified": True,
        "name": "Ada Lovelace",
    } | values


def test_new_user_keyed_on_sub_with_normalized_email(db: Any) -> None:
    user = user_from_claims(claims(), is_staff_by_role=False)
    db.session.commit()
    assert (user.keycloak_sub, user.email, user.name) == (
        "kc-sub-1",
        "ada@example.com",
        "Ada Lovelace",
    )
    again = user_from_claims(claims(email="ada.new@example.com"), is_staff_by_role=False)
    assert again.id == user.id and again.email == "ada.new@example.com"  # same sub, email updated


def test_verified_email_links_a_pre_made_account(db: Any, make_user: Callable[..., User]) -> None:
    made = make_user("ada@example.com", is_staff=True)
    user = user_from_claims(claims(), is_staff_by_role=False)
    assert user.id == made.id and user.keycloak_sub == "kc-sub-1" and user.is_staff


def test_unverified_email_never_claims_someone_elses_account(
    db: Any, make_user: Callable[..., User]
) -> None:
    made = make_user("ada@example.com", is_staff=True)
    with pytest.raises(Conflict):
        user_from_claims(claims(email_verified=False), is_staff_by_role=False)
    db.session.rollback()
    assert db.session.get(User, made.id).keycloak_sub is None


def test_email_held_by_another_signed_in_account_is_a_conflict(
    db: Any, make_user: Callable[..., User]
) -> None:
    make_user("ada@example.com", keycloak_sub="other-sub")
    with pytest.raises(Conflict, match="Another portal account"):
        user_from_claims(claims(), is_staff_by_role=False)


def test_role_grants_staff(db: Any) -> None:
    assert user_from_claims(claims(), is_staff_by_role=True).is_staff


def test_missing_sub_is_refused(db: Any) -> None:
    with pytest.raises(DomainError, match="no subject"):
        user_from_claims(claims(sub=None), is_staff_by_role=False)


def test_no_email_gets_a_placeholder(db: Any) -> None:
    user = user_from_claims({"sub": "s-2"}, is_staff_by_role=False)
    assert user.email == "s-2@users.invalid"


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/staff/keycloak/pull", "keycloak.pull_organizations")],
)
def test_staff_queue_keycloak_jobs(
    client: FlaskClient, login_as: Callable[..., Any], db: Any, path: str, kind: str
) -> None:
    login_as("staff")
    assert client.post(path).status_code == 302
    job = db.session.scalar(select(BackgroundJob).where(BackgroundJob.kind == kind))
    assert job is not None


def test_staff_create_in_keycloak_and_resync_buttons(
    client: FlaskClient, login_as: Callable[..., Any], make_user: Callable[..., User], db: Any
) -> None:
    login_as("staff")
    org = OrganizationFactory(name="Umbrella", key="UMB")
    learner = make_user(keycloak_sub="sub-9")  # commits the organization too
    assert client.get("/staff/organizations").status_code == 200
    assert b"Create in Keycloak" in client.get("/staff/organizations").data
    assert client.post(f"/staff/organizations/{org.id}/keycloak").status_code == 302
    assert client.post(f"/staff/users/{learner.id}/resync").status_code == 302
    kinds = set(db.session.scalars(select(BackgroundJob.kind)))
    assert {"keycloak.create_organization", "keycloak.resync_member"} <= kinds
    assert client.post("/staff/organizations/99999/keycloak").status_code == 404
    assert client.post("/staff/users/99999/resync").status_code == 404
    page = client.get("/staff/users?q=" + learner.email.split("@")[0])
    assert learner.email.encode() in page.data


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/staff/keycloak/pull"),
        ("get", "/staff/organizations"),
        ("get", "/staff/users"),
        ("post", "/staff/organizations/1/keycloak"),
        ("post", "/staff/users/1/resync"),
    ],
)
def test_staff_keycloak_routes_refuse_learners(
    client: FlaskClient, login_as: Callable[..., Any], method: str, path: str
) -> None:
    login_as("learner")
    assert getattr(client, method)(path).status_code == 403
