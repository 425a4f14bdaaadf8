"""`flask --app portal b2b ...`: each command's success and refusal, through the Flask CLI runner."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import func, select

from portal.models import (
    AuditEvent,
    BackgroundJob,
    CodeRedemption,
    Contract,
    CourseRun,
    EnrollmentCode,
    MembershipType,
    Organization,
    RedemptionType,
    Seat,
    SeatSource,
    User,
    utcnow,
)


def run(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=["b2b", *args])
    from portal.extensions import db

    db.session.expire_all()
    return result


def ok(app: Flask, *args: str) -> str:
    result = run(app, *args)
    assert result.exit_code == 0, result.output
    return result.output


def refused(app: Flask, *args: str) -> str:
    result = run(app, *args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    return result.output


def contract(db: Any, slug: str) -> Contract:
    return db.session.scalar(select(Contract).where(Contract.slug == slug))


def live_seat_codes(db: Any, c: Contract) -> int:
    return int(
        db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(
                EnrollmentCode.contract_id == c.id,
                EnrollmentCode.for_seat.is_(True),
                EnrollmentCode.deactivated_at.is_(None),
            )
        )
    )


def cli_events(db: Any, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action, AuditEvent.actor_kind == "cli")
        )
    )


# ----------------------------------------------------------------------------- org


def test_org_create_list_and_audit(app: Flask, db: Any) -> None:
    out = ok(app, "org", "create", "--name", "Umbrella Corp", "--key", "UMB", "--alias", "umbrella")
    assert "Created organization UMB" in out
    org = db.session.scalar(select(Organization).where(Organization.key == "UMB"))
    assert org.keycloak_alias == "umbrella" and org.name == "Umbrella Corp"
    (event,) = cli_events(db, "organization.created")
    assert event.after is not None and event.after["key"] == "UMB"
    listing = ok(app, "org", "list")
    assert "UMB\tUmbrella Corp\tnot in keycloak\tactive\t0 contracts" in listing


def test_org_create_with_keycloak_job(app: Flask, db: Any) -> None:
    out = ok(app, "org", "create", "--name", "Initech", "--key", "INI", "--keycloak-create")
    assert "keycloak.create_organization" in out
    job = db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == "keycloak.create_organization")
    )
    assert job is not None and job.object_type == "organization"
    assert cli_events(db, "job.queued")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "X", "--key", "bad key!"], "upper-case letters"),
        (["--name", "Acme again", "--key", "ACME"], "already in use"),
        (["--name", " ", "--key", "OK"], "1 to 200 characters"),
        (["--key", "OK"], "Missing option '--name'"),
    ],
)
def test_org_create_refusals(
    app: Flask, db: Any, demo: None, args: list[str], message: str
) -> None:
    assert message in refused(app, "org", "create", *args)
    assert db.session.scalar(select(func.count(Organization.id))) == 2


def test_org_list_empty_and_sync(app: Flask, db: Any) -> None:
    assert "No organizations." in ok(app, "org", "list")
    out = ok(app, "org", "sync")
    assert "keycloak.pull_organizations" in out
    assert db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == "keycloak.pull_organizations")
    )
    assert cli_events(db, "job.queued")


# ----------------------------------------------------------------------------- contract


def test_contract_create_code_contract_gets_seat_codes(app: Flask, db: Any, demo: None) -> None:
    out = ok(
        app,
        *("contract", "create", "--org", "globex", "--name", "Globex Spring"),
        *("--slug", "globex-spring", "--type", "code", "--seats", "7", "--price", "19.5"),
        *("--start", "2026-01-01", "--end", "2026-12-31"),
    )
    assert "Created contract GLOBEX/globex-spring" in out and "Added 7 one-time seat codes." in out
    c = contract(db, "globex-spring")
    assert c.membership_type is MembershipType.CODE and c.seat_limit == 7
    assert str(c.price_per_learner) == "19.50" and c.start_at.year == 2026
    assert live_seat_codes(db, c) == 7
    assert cli_events(db, "contract.created")
    assert "GLOBEX/globex-spring\tcode\t7 seats\t19.50\t2026-01-01 - 2026-12-31" in ok(
        app, "contract", "list", "--org", "GLOBEX"
    )


def test_contract_create_unlimited_auto(app: Flask, db: Any, demo: None) -> None:
    ok(app, *("contract", "create", "--org", "ACME", "--name", "All hands"),
       *("--slug", "acme-all", "--type", "auto", "--unlimited"))  # fmt: skip
    c = contract(db, "acme-all")
    assert c.unlimited_seats and c.seat_limit is None and live_seat_codes(db, c) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--slug", "Bad Slug", "--seats", "1"], "lower-case letters"),
        (["--slug", "globex-open-seats", "--seats", "1"], "already has a contract"),
        (["--slug", "new", "--seats", "3", "--unlimited"], "not both"),
        (["--slug", "new"], "Enter a seat limit"),
        (["--slug", "new", "--seats", "1", "--price", "abc"], "The price must be a number"),
        (["--slug", "new", "--seats", "1", "--price", "-1"], "can't be negative"),
        (
            ["--slug", "new", "--seats", "1", "--start", "2026-05-01", "--end", "2026-04-01"],
            "must end after it starts",
        ),
        (["--slug", "new", "--seats", "-2"], "Invalid value for '--seats'"),
    ],
)
def test_contract_create_refusals(
    app: Flask, db: Any, demo: None, extra: list[str], message: str
) -> None:
    out = refused(
        app, "contract", "create", "--org", "GLOBEX", "--name", "N", "--type", "code", *extra
    )
    assert message in out
    assert contract(db, "new") is None


def test_contract_create_unknown_org(app: Flask, db: Any) -> None:
    out = refused(app, "contract", "create", "--org", "NOPE", "--name", "N", "--slug", "n",
                  "--type", "code", "--seats", "1")  # fmt: skip
    assert "No organization has the key 'NOPE'" in out


def test_contract_modify(app: Flask, db: Any, demo: None) -> None:
    ok(app, "contract", "modify", "globex-open-seats", "--org", "GLOBEX", "--name", "Renamed",
       "--price", "10", "--end", "2030-01-01")  # fmt: skip
    c = contract(db, "globex-open-seats")
    assert c.name == "Renamed" and str(c.price_per_learner) == "10.00" and c.end_at.year == 2030
    (event,) = cli_events(db, "contract.updated")
    assert event.after is not None and event.after["name"] == "Renamed"
    assert event.before is not None and event.before["name"] == "Globex Open Seats"


def test_contract_modify_membership_type(app: Flask, db: Any, demo: None) -> None:
    ok(app, "contract", "modify", "acme-data-academy", "--org", "ACME", "--type", "managed")
    c = contract(db, "acme-data-academy")
    assert c.membership_type is MembershipType.MANAGED
    (event,) = cli_events(db, "contract.membership_changed")
    assert event.before == {"membership_type": "auto"}
    assert "Invalid value for '--type'" in refused(
        app, "contract", "modify", "acme-data-academy", "--org", "ACME", "--type", "open"
    )


def test_contract_modify_seats_moves_seat_codes(app: Flask, db: Any, demo: None) -> None:
    c = contract(db, "globex-open-seats")
    ok(app, "contract", "modify", "globex-open-seats", "--org", "GLOBEX", "--seats", "55")
    assert live_seat_codes(db, c) == 55
    ok(app, "contract", "modify", "globex-open-seats", "--org", "GLOBEX", "--seats", "40")
    assert live_seat_codes(db, c) == 40 and db.session.get(Contract, c.id).seat_limit == 40
    assert cli_events(db, "contract.seats_changed") and cli_events(db, "codes.seat_codes_adjusted")


def test_contract_modify_refuses_lowering_below_assigned_codes(
    app: Flask, db: Any, demo: None
) -> None:
    c = contract(db, "globex-certificate")  # 10 seats, 10 codes
    for code in db.session.scalars(
        select(EnrollmentCode).where(EnrollmentCode.contract_id == c.id)
    ):
        code.assigned_email = "someone@example.com"
    db.session.commit()
    out = refused(
        app, "contract", "modify", "globex-certificate", "--org", "GLOBEX", "--seats", "5"
    )
    assert "only 0 are unused and unassigned" in out
    assert db.session.get(Contract, c.id).seat_limit == 10 and live_seat_codes(db, c) == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--org", "GLOBEX", "--name", "X"], "GLOBEX has no contract 'nope'"),
        (["globex-open-seats", "--org", "GLOBEX"], "Nothing to change"),
        (["globex-open-seats", "--org", "GLOBEX", "--end", "2000-01-01"], "must end after"),
        (["globex-open-seats", "--org", "GLOBEX", "--end", "soon"], "Invalid value for '--end'"),
    ],
)
def test_contract_modify_refusals(
    app: Flask, db: Any, demo: None, args: list[str], message: str
) -> None:
    assert message in refused(app, "contract", "modify", *args)
    assert contract(db, "globex-open-seats").name == "Globex Open Seats"


def test_contract_list(app: Flask, db: Any, demo: None) -> None:
    out = ok(app, "contract", "list")
    assert "ACME/acme-data-academy\tauto\tunlimited\tfree" in out
    assert "GLOBEX/globex-certificate\tcode\t10 seats\t149.00" in out
    assert "ACME/" not in ok(app, "contract", "list", "--org", "GLOBEX")
    assert "No organization has the key" in refused(app, "contract", "list", "--org", "X")


def test_contract_list_empty(app: Flask) -> None:
    assert "No contracts." in ok(app, "contract", "list")


# ----------------------------------------------------------------------------- courseware

WHERE = ("--contract", "globex-open-seats", "--org", "GLOBEX")


def test_courseware_add_course_program_and_run(app: Flask, db: Any, demo: None) -> None:
    out = ok(app, "courseware", "add", *WHERE, "--course", "B2B_SOURCE+DS.101x")
    assert "Added course run course-v1:GLOBEX+DS.101x+1T" in out
    c = contract(db, "globex-open-seats")
    assert (
        db.session.scalar(select(func.count(CourseRun.id)).where(CourseRun.contract_id == c.id))
        == 1
    )
    assert db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == "openedx.create_contract_run")
    )
    out = ok(app, "courseware", "add", *WHERE, "--program", "program-v1:B2B+DATA-LEAD")
    assert "Added program program-v1:B2B+DATA-LEAD" in out
    assert cli_events(db, "contract.course_added")
    public = db.session.scalar(select(CourseRun).where(CourseRun.contract_id.is_(None),
                                                       CourseRun.is_source_run.is_(False)))  # fmt: skip
    assert "Attached run" in ok(app, "courseware", "add", *WHERE, "--run", public.course_key)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give exactly one of --course, --program, --run"),
        (["--course", "A", "--program", "B"], "Give exactly one of"),
        (["--course", "NOPE"], "No course has the key 'NOPE'"),
        (["--program", "NOPE"], "No program has the key 'NOPE'"),
        (["--run", "course-v1:B2B_SOURCE+DS.101x+SOURCE"], "source run"),
    ],
)
def test_courseware_add_refusals(
    app: Flask, db: Any, demo: None, args: list[str], message: str
) -> None:
    assert message in refused(app, "courseware", "add", *WHERE, *args)


def test_courseware_remove(app: Flask, db: Any, demo: None) -> None:
    ok(app, "courseware", "add", *WHERE, "--program", "program-v1:B2B+DATA-LEAD")
    c = contract(db, "globex-open-seats")
    key = db.session.scalar(select(CourseRun.course_key).where(CourseRun.contract_id == c.id))
    out = ok(app, "courseware", "remove", *WHERE, "--run", key)
    assert f"{key}: detach" in out
    out = ok(app, "courseware", "remove", *WHERE, "--program", "program-v1:B2B+DATA-LEAD")
    assert "Removed program" in out
    assert cli_events(db, "contract.program_removed")
    assert "not on this contract" in refused(app, "courseware", "remove", *WHERE, "--run", key)
    assert "Give exactly one of --run, --program" in refused(app, "courseware", "remove", *WHERE)


# ----------------------------------------------------------------------------- codes

CODES_WHERE = ("--contract", "globex-certificate", "--org", "GLOBEX")


def test_codes_generate(app: Flask, db: Any, demo: None) -> None:
    out = ok(app, "codes", "generate", *CODES_WHERE, "--count", "3", "--type", "multi_use",
             "--max-uses", "4")  # fmt: skip
    assert "Generated 3 multi_use codes, batch" in out
    batch = out.strip().rsplit(" ", 1)[-1].rstrip(".")
    codes = list(db.session.scalars(select(EnrollmentCode).where(EnrollmentCode.batch == batch)))
    assert len(codes) == 3 and all(c.max_uses == 4 and not c.for_seat for c in codes)
    assert all(c.redemption_type is RedemptionType.MULTI_USE for c in codes)
    (event,) = cli_events(db, "codes.generated")
    assert event.after is not None and event.after["batch"] == batch
    ok(app, "codes", "generate", *CODES_WHERE, "--count", "2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "Invalid value for '--count'"),
        (["--count", "100001"], "between 1 and 100,000"),
        (["--count", "2", "--max-uses", "3"], "multi_use codes only"),
        (["--count", "2", "--type", "forever"], "Invalid value for '--type'"),
    ],
)
def test_codes_generate_refusals(
    app: Flask, db: Any, demo: None, args: list[str], message: str
) -> None:
    assert message in refused(app, "codes", "generate", *CODES_WHERE, *args)


def test_codes_export_to_stdout_and_file(app: Flask, db: Any, demo: None, tmp_path: Path) -> None:
    out = ok(app, "codes", "export", *CODES_WHERE)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 10
    first = rows[0]
    assert first["redeem link"] == f"http://127.0.0.1:5000/redeem/{first['code']}"
    assert first["redemption type"] == "one_time" and first["deactivated"] == ""
    target = tmp_path / "codes.csv"
    result = run(app, "codes", "export", *CODES_WHERE, "-o", str(target))
    assert result.exit_code == 0 and "Wrote 10 codes" in result.output
    assert len(target.read_text().splitlines()) == 11
    assert cli_events(db, "codes.exported")
    assert "has no contract" in refused(
        app, "codes", "export", "--contract", "x", "--org", "GLOBEX"
    )


def test_codes_export_defuses_spreadsheet_formulas(app: Flask, db: Any, demo: None) -> None:
    c = contract(db, "globex-certificate")
    code = db.session.scalars(
        select(EnrollmentCode).where(EnrollmentCode.contract_id == c.id)
    ).first()
    code.assigned_email = "=cmd@example.com"
    db.session.commit()
    out = ok(app, "codes", "export", *CODES_WHERE)
    assert "'=cmd@example.com" in out


def test_codes_validate_reports_and_fixes(app: Flask, db: Any, demo: None) -> None:
    assert "All seat codes match" in ok(app, "codes", "validate")
    short = contract(db, "globex-certificate")  # 10 seats
    over = contract(db, "acme-leadership")  # 25 seats
    short.seat_limit = 12
    over.seat_limit = 20
    codes = list(
        db.session.scalars(
            select(EnrollmentCode)
            .where(EnrollmentCode.contract_id == over.id)
            .order_by(EnrollmentCode.id.desc())
        )
    )
    kept = {codes[0].id, codes[1].id}
    codes[0].assigned_email = "kept@acme.example"  # the newest: never removed
    codes[1].times_redeemed = 1  # used (its seat held): never removed
    holder = User(email="holder@acme.example")
    db.session.add(holder)
    db.session.flush()
    redemption = CodeRedemption(code_id=codes[1].id, user_id=holder.id, contract_id=over.id)
    db.session.add(redemption)
    db.session.flush()
    db.session.add(
        Seat(
            contract_id=over.id,
            user_id=holder.id,
            source=SeatSource.CODE,
            redemption_id=redemption.id,
        )
    )
    removable = {c.id for c in codes[2:7]}
    db.session.commit()
    out = refused(app, "codes", "validate")
    assert "GLOBEX/globex-certificate: 10 seat codes, seat limit 12" in out
    assert "ACME/acme-leadership: 25 seat codes, seat limit 20" in out
    assert "2 contracts have drifted seat codes. Run with --fix" in out
    assert live_seat_codes(db, short) == 10  # report only
    out = ok(app, "codes", "validate", "--fix")
    assert "Added 2 one-time seat codes." in out
    assert "Removed 5 unused seat codes, newest first." in out
    assert live_seat_codes(db, short) == 12 and live_seat_codes(db, over) == 20
    left = set(db.session.scalars(select(EnrollmentCode.id)))
    assert kept <= left and not removable & left
    assert len(cli_events(db, "codes.seat_codes_adjusted")) == 2
    assert "All seat codes match" in ok(app, "codes", "validate")


def test_codes_validate_fix_reports_what_it_cannot_remove(app: Flask, db: Any, demo: None) -> None:
    c = contract(db, "globex-certificate")
    c.seat_limit = 8
    short = contract(db, "globex-open-seats")
    short.seat_limit = 51
    now = utcnow()
    for code in db.session.scalars(
        select(EnrollmentCode).where(EnrollmentCode.contract_id == c.id)
    ):
        code.assigned_email, code.assigned_at = "a@globex.example", now
    db.session.commit()
    out = refused(app, "codes", "validate", "--fix")
    assert "GLOBEX/globex-certificate: 10 seat codes, seat limit 8: not fixed." in out
    assert "1 contract has drifted seat codes." in out
    assert live_seat_codes(db, c) == 10
    assert live_seat_codes(db, short) == 51  # the other contract was still fixed
