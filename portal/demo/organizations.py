"""The demo realm's organizations and the contracts they bought."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from portal.demo.common import Created, get_or_create, tally
from portal.extensions import db
from portal.models import Contract, EnrollmentCode, MembershipType, Organization
from portal.services.codes import generate_codes

# Keycloak ids of the demo realm's organizations (emulators/keycloak/realms/demo-realm.json), and
# the identity providers linked to them there: Acme's own ``acme-idp`` is what its managed contract
# (Acme Leadership Circle) checks a login against. Ada (learner@acme.example) is sent through it and
# passes; Alan (learner@globex.example) signs in with a password and is refused, and stays refused
# once staff add him to Acme (pushed to Keycloak as an UNMANAGED member, so Acme enters his claim).
ORGANIZATIONS: list[dict[str, Any]] = [
    {
        "key": "ACME",
        "name": "Acme Corporation",
        "description": "Manufacturing and logistics; staff sign in with Acme's own identity provider.",
        "keycloak_id": "0a000000-0000-4000-8000-00000000ac01",
        "keycloak_alias": "acme",
        "idp_aliases": ["acme-idp"],
    },
    {
        "key": "GLOBEX",
        "name": "Globex University",
        "description": "A university buying seats for its students, handed out as codes.",
        "keycloak_id": "0a000000-0000-4000-8000-00000000ac02",
        "keycloak_alias": "globex",
        "idp_aliases": [],
    },
]

# (organization key, slug, name, membership type, seat limit or None for unlimited, price)
ENDING_SOON = "globex-open-seats"
CONTRACTS: list[tuple[str, str, str, MembershipType, int | None, Decimal | None]] = [
    ("ACME", "acme-data-academy", "Acme Data Academy", MembershipType.AUTO, None, None),
    ("ACME", "acme-leadership", "Acme Leadership Circle", MembershipType.MANAGED, 25, None),
    ("GLOBEX", "globex-open-seats", "Globex Open Seats", MembershipType.CODE, 50, None),
    (
        "GLOBEX",
        "globex-certificate",
        "Globex Professional Certificate",
        MembershipType.CODE,
        10,
        Decimal("149.00"),
    ),
]


def seed_organizations(created: Created) -> dict[str, Organization]:
    """The demo organizations, by key."""
    orgs = {}
    for spec in ORGANIZATIONS:
        org, new = get_or_create(
            Organization,
            {"key": spec["key"]},
            name=spec["name"],
            description=spec["description"],
            keycloak_id=spec["keycloak_id"],
            keycloak_alias=spec["keycloak_alias"],
            idp_aliases=spec["idp_aliases"],
        )
        if new or not org.idp_aliases:
            org.idp_aliases = list(spec["idp_aliases"])
        orgs[spec["key"]] = org
        tally(created, "organizations", new)
    return orgs


def seed_contracts(created: Created, orgs: dict[str, Organization], now: dt.datetime) -> None:
    """The demo contracts, running from 30 days ago for a year (Globex's open seats end in three
    weeks: staff have a contract to renew); a contract with a seat limit and no codes yet gets one
    seat code per seat."""
    year_start = now - dt.timedelta(days=30)
    year_end = now + dt.timedelta(days=335)
    for org_key, slug, name, mtype, seats, price in CONTRACTS:
        ends = now + dt.timedelta(days=21) if slug == ENDING_SOON else year_end
        contract, new = get_or_create(
            Contract,
            {"organization_id": orgs[org_key].id, "slug": slug},
            name=name,
            description=f"{name}: courses {orgs[org_key].name} bought for its people.",
            welcome_message=f"Welcome to {name}! Pick a course below and start when you like.",
            membership_type=mtype,
            start_at=year_start,
            end_at=ends,
            unlimited_seats=seats is None,
            seat_limit=seats,
            price_per_learner=price,
        )
        tally(created, "contracts", new)
        has_codes = db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(EnrollmentCode.contract_id == contract.id)
        )
        if seats and not has_codes:
            generate_codes(contract, seats, for_seat=True)
            created["codes"] = created.get("codes", 0) + seats
