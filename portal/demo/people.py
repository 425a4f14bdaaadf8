"""The demo realm's people, and Acme's org admin."""

from __future__ import annotations

from sqlalchemy import select

from portal.demo.common import Created, get_or_create, tally
from portal.extensions import db
from portal.models import Membership, MembershipSource, Organization, User

# (email, name, is staff)
USERS = [
    ("learner@acme.example", "Ada Lovelace", False),
    ("admin@acme.example", "Grace Hopper", False),
    ("learner@globex.example", "Alan Turing", False),
    ("member@globex.example", "Katherine Johnson", False),
    ("staff@portal.example", "Margaret Hamilton", True),
    ("newcomer@example.com", "Edsger Dijkstra", False),
]


def seed_people(created: Created, orgs: dict[str, Organization]) -> None:
    """The demo users, and Grace's membership as Acme's manager."""
    for email, name, is_staff in USERS:
        _, new = get_or_create(User, {"email": email}, name=name, is_staff=is_staff)
        tally(created, "users", new)
    admin = db.session.scalar(select(User).where(User.email == "admin@acme.example"))
    assert admin is not None
    _, new = get_or_create(
        Membership,
        {"user_id": admin.id, "organization_id": orgs["ACME"].id},
        source=MembershipSource.STAFF,
        is_manager=True,
        # Added by hand: kept until Keycloak's claim confirms it at her first sign-in.
        keep_until_seen=True,
    )
    tally(created, "memberships", new)
