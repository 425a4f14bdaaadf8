"""Demo data: a realistic, idempotent set that matches the emulators' demo realm and courses.

Demo tooling, outside the product's services: ``flask --app portal seed-demo`` calls
:func:`seed_demo`, the redeem page shows :func:`sample_codes` in demo mode, and the tests and
benchmarks load many learners with :func:`add_bulk_learners`. It calls services and models;
nothing in services, core or models imports it.
"""

from __future__ import annotations

from sqlalchemy import select

from portal.demo.bulk import add_bulk_learners, add_bulk_outcomes
from portal.demo.catalog import seed_program, seed_public_course, seed_source_courses
from portal.demo.codes import sample_codes
from portal.demo.common import Created
from portal.demo.courseware import seed_contract_runs
from portal.demo.history import seed_seat_history
from portal.demo.organizations import seed_contracts, seed_organizations
from portal.demo.people import seed_people
from portal.extensions import db
from portal.models import Contract, utcnow
from portal.services.audit import record_event

__all__ = ["add_bulk_learners", "add_bulk_outcomes", "sample_codes", "seed_demo"]


def seed_demo(*, contract_runs: bool = False, seat_history: bool = False) -> dict[str, int]:
    """Create what is missing; never duplicates. Returns how many objects were created by kind.

    With ``contract_runs`` the demo contracts also get their courseware: contract runs whose creation
    jobs clone the source runs in edX (the Open edX emulator in demo mode) once committed. With
    ``seat_history`` Acme's leadership contract gets six weeks of seat claims for the org admin's
    dashboard."""
    created: Created = {}
    now = utcnow()

    orgs = seed_organizations(created)
    courses = seed_source_courses(created)
    seed_public_course(created)
    seed_program(created, courses)
    seed_contracts(created, orgs, now)
    seed_people(created, orgs)

    leadership = db.session.scalar(select(Contract).where(Contract.slug == "acme-leadership"))
    if seat_history and leadership is not None:
        created["seat history"] = seed_seat_history(leadership, now)

    if contract_runs:
        created["contract runs"] = seed_contract_runs()

    if any(created.values()):
        record_event("demo.seeded", "portal", None, after=created, actor_kind="cli")
    return created
