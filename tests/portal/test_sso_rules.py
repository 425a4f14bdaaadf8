"""Unit checks of the rules behind roles following Keycloak and the sign-in holes: staff follows the
realm role, emails from claims are validated, and the back-channel endpoint is CSRF-exempt and
rate-limited on refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from portal.core.domain_errors import DomainError
from portal.models import AuditEvent, User
from portal.services.users import email_from_claim, follow_staff_role, user_from_claims


def claims(**values: Any) -> dict[str, Any]:
    return {"sub": "kc-sub-9", "email": "Grace@Example.com", "email_verified": True} | values


def test_role_removed_takes_away_staff_keycloak_gave(db: Any) -> None:
    user = user_from_claims(claims(), is_staff_by_role=True)
    assert user.is_staff and user.staff_from_keycloak
    user = user_from_claims(claims(), is_staff_by_role=False)
    assert not user.is_staff and not user.staff_from_keycloak
    actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert "user.staff_granted" in actions and "user.staff_revoked" in actions


def test_a_local_grant_is_kept_until_keycloak_governs_it(
    db: Any, make_user: Callable[..., User]
) -> None:
    made = make_user("grace@example.com", is_staff=True)  # grant-staff, before the first sign-in
    user = user_from_claims(claims(), is_staff_by_role=False)
    assert user.id == made.id and user.is_staff and not user.staff_from_keycloak
    follow_staff_role(user, True, source="sign-in")  # the role arrives: Keycloak governs it now
    follow_staff_role(user, False, source="sign-in")
    assert not user.is_staff


def test_no_change_no_audit(db: Any, make_user: Callable[..., User]) -> None:
    user = make_user("x@example.com")
    follow_staff_role(user, False, source="staff-resync")
    db.session.flush()
    assert db.session.query(AuditEvent).filter(AuditEvent.action.like("user.staff%")).count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        "ada\u202e@example.com",
        "ada@example.com\u202c",
        "a\u200fda@example.com",
        "ada@exa\nmple.com",
        "ada\x00@example.com",
        "ada",
        "ada@",
        "@example.com",
        "ada@localhost",
        "a" * 400 + "@example.com",
        ["ada@example.com"],
        42,
    ],
)
def test_bad_email_claims_are_refused(raw: object) -> None:
    with pytest.raises(DomainError, match="not a valid address"):
        email_from_claim(raw)


def test_email_claims_are_normalized() -> None:
    assert email_from_claim("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    assert email_from_claim(None) == "" and email_from_claim("  ") == ""


def test_refused_email_stores_nothing(db: Any) -> None:
    with pytest.raises(DomainError):
        user_from_claims(claims(email="grace\u202e@example.com"), is_staff_by_role=True)
    db.session.rollback()
    assert db.session.query(User).count() == 0


def test_control_characters_leave_the_display_name(db: Any) -> None:
    user = user_from_claims(claims(name="Grace \u202eHopper\u202c\n"), is_staff_by_role=False)
    assert user.name == "Grace Hopper"


def test_backchannel_endpoint_is_csrf_exempt_and_limits_refusals(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = app.test_client()
        answer = client.post("/auth/backchannel-logout", data={"logout_token": "x"})
        assert answer.get_json() == {"error": "invalid_request"}  # ours, not a CSRF refusal
        statuses = [
            client.post("/auth/backchannel-logout", data={"logout_token": "x"}).status_code
            for _ in range(30)
        ]
        refused = client.post("/auth/backchannel-logout", data={"logout_token": "x"})
    assert statuses[:29] == [400] * 29 and statuses[29] == 429
    assert refused.status_code == 429
    first = app.test_client().post("/auth/backchannel-logout", data={})
    assert first.status_code in (400, 429)  # same address: still limited
