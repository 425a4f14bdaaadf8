"""``flask --app portal b2b ...``: organizations, contracts, courseware and codes for automation.

Each command calls the same services as the staff forms, commits once, and reports refusals as a clear
message with a non-zero exit (``click.ClickException``). Audit events written while a command runs are
recorded with ``actor_kind="cli"``.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import click
from flask import current_app
from sqlalchemy import event, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.models import (
    AuditEvent,
    Contract,
    Course,
    CourseRun,
    MembershipType,
    Organization,
    Program,
    RedemptionType,
)
from portal.services.audit import record_event

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


# ----------------------------------------------------------------------------- plumbing


def _mark_cli_events() -> Callable[[], None]:
    """Record audit events written by this command's thread as ``actor_kind="cli"`` (services
    default to "system" when there is no signed-in user). Returns the function that stops it."""
    thread = threading.get_ident()

    def before_insert(mapper: Any, connection: Any, target: AuditEvent) -> None:
        mine = threading.get_ident() == thread and target.actor_id is None
        if mine and target.actor_kind in (None, "system"):
            target.actor_kind = "cli"

    event.listen(AuditEvent, "before_insert", before_insert)
    return lambda: event.remove(AuditEvent, "before_insert", before_insert)


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a service's refusal (or a unique constraint) into a clear message and exit code 1."""
    try:
        yield
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    except IntegrityError as exc:
        db.session.rollback()
        raise click.ClickException(
            "That would duplicate an existing record (a key, alias or slug already in use)."
        ) from exc


def _fail(message: str) -> click.ClickException:
    db.session.rollback()
    return click.ClickException(message)


def find_org(key: str) -> Organization:
    org = db.session.scalar(select(Organization).where(Organization.key == key.strip().upper()))
    if org is None:
        raise _fail(f"No organization has the key {key!r} (see `b2b org list`).")
    return org


def find_contract(org_key: str, slug: str) -> Contract:
    org = find_org(org_key)
    contract = db.session.scalar(
        select(Contract).where(Contract.organization_id == org.id, Contract.slug == slug)
    )
    if contract is None:
        raise _fail(
            f"{org.key} has no contract {slug!r} (see `b2b contract list --org {org.key}`)."
        )
    return contract


def _price(raw: str | None) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _fail(f"The price must be a number like 149.00, not {raw!r}.") from None
    if not value.is_finite():
        raise _fail(f"The price must be a number like 149.00, not {raw!r}.")
    return value.quantize(Decimal("0.01"))


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """Dates on the command line are UTC."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


def _seats(seats: int | None, unlimited: bool) -> tuple[bool, int | None]:
    if unlimited and seats is not None:
        raise _fail("Give either --seats N or --unlimited, not both.")
    return unlimited, seats


# ----------------------------------------------------------------------------- seat codes


def seat_code_notes(change: Any) -> list[str]:
    """What ``codes.adjust_seat_codes`` did, in words."""
    notes = []
    if change.removed:
        notes.append(f"Removed {change.removed} unused seat code(s), newest first.")
    if change.closed:
        notes.append(f"Deactivated {change.closed} multi-use code(s): seats are limited now.")
    if change.unlimited_code:
        notes.append(f"Its single multi-use code is {change.unlimited_code}.")
    added = change.added - (1 if change.unlimited_code else 0)
    if added:
        notes.append(f"Added {added} one-time seat code(s).")
    return notes


def sync_seat_codes(contract_id: int) -> list[str]:
    """Bring the contract's seat codes in line with its seats, all at once (a command can wait)."""
    from portal.services.codes import adjust_seat_codes
    from portal.services.contract_runs import lock_contract

    return seat_code_notes(adjust_seat_codes(lock_contract(contract_id)))


# ----------------------------------------------------------------------------- groups


@click.group("b2b")
@click.pass_context
def b2b_group(ctx: click.Context) -> None:
    """Organizations, contracts, courseware and codes (the staff console's services)."""
    ctx.call_on_close(_mark_cli_events())


@b2b_group.group("org")
def org_group() -> None:
    """Organizations."""


@b2b_group.group("contract")
def contract_group() -> None:
    """Contracts."""


@b2b_group.group("courseware")
def courseware_group() -> None:
    """Course runs and programs on contracts."""


@b2b_group.group("codes")
def codes_group() -> None:
    """Enrollment codes."""


# ----------------------------------------------------------------------------- org


@org_group.command("create")
@click.option("--name", required=True, help="Display name.")
@click.option("--key", required=True, help="Short key: 1-30 of A-Z, 0-9, _ (part of edX keys).")
@click.option("--alias", default=None, help="Keycloak alias (default: the key in lower case).")
@click.option(
    "--keycloak-create", is_flag=True, help="Also record the job creating it in Keycloak."
)
def org_create(name: str, key: str, alias: str | None, keycloak_create: bool) -> None:
    """Create an organization."""
    from portal.jobs import record_job
    from portal.services.organizations import save_organization

    name = name.strip()
    if not name or len(name) > 200:
        raise _fail("The name must be 1 to 200 characters.")
    with refusals():
        org = save_organization(
            Organization(), {"name": name, "key": key.strip(), "keycloak_alias": alias}
        )
        job = None
        if keycloak_create:
            job = record_job(
                JobKind.KEYCLOAK_CREATE_ORGANIZATION,
                {"organization_id": org.id},
                object_type="organization",
                object_id=org.id,
                organization_id=org.id,
            )
            record_event(
                "job.queued",
                "background_job",
                job.id,
                organization_id=org.id,
                after={"kind": job.kind, "organization_id": org.id},
            )
        db.session.commit()
    click.echo(f"Created organization {org.key} ({org.name}), id {org.id}.")
    if job is not None:
        click.echo(f"Recorded job {job.id} (keycloak.create_organization).")


@org_group.command("list")
def org_list() -> None:
    """List organizations with their Keycloak link and contract count."""
    contracts = (
        select(Contract.organization_id, func.count(Contract.id).label("n"))
        .group_by(Contract.organization_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Organization, func.coalesce(contracts.c.n, 0))
        .outerjoin(contracts, contracts.c.organization_id == Organization.id)
        .order_by(Organization.key)
    ).all()
    if not rows:
        click.echo("No organizations.")
        return
    for org, n in rows:
        linked = f"keycloak {org.keycloak_alias}" if org.keycloak_id else "not in keycloak"
        state = "active" if org.active else "inactive"
        click.echo(f"{org.key}\t{org.name}\t{linked}\t{state}\t{n} contract(s)")


@org_group.command("sync")
def org_sync() -> None:
    """Record the job that pulls organizations from Keycloak (create and update, never delete)."""
    from portal.jobs import record_job

    job = record_job(JobKind.KEYCLOAK_PULL_ORGANIZATIONS, {})
    record_event("job.queued", "background_job", job.id, after={"kind": job.kind})
    db.session.commit()
    click.echo(f"Recorded job {job.id} (keycloak.pull_organizations); a worker runs it.")


# ----------------------------------------------------------------------------- contract

_date = click.DateTime(formats=DATE_FORMATS)


@contract_group.command("create")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("--name", required=True)
@click.option("--slug", required=True, help="Lower-case letters, digits and '-'.")
@click.option(
    "--type", "membership_type", required=True, type=click.Choice([t.value for t in MembershipType])
)
@click.option("--seats", type=click.IntRange(min=0), default=None, help="Seat limit.")
@click.option("--unlimited", is_flag=True, help="Unlimited seats.")
@click.option("--price", default=None, help="Price per learner, e.g. 149.00.")
@click.option("--start", type=_date, default=None, help="Start (UTC), YYYY-MM-DD[THH:MM].")
@click.option("--end", type=_date, default=None, help="End (UTC), YYYY-MM-DD[THH:MM].")
def contract_create(
    org_key: str,
    name: str,
    slug: str,
    membership_type: str,
    seats: int | None,
    unlimited: bool,
    price: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> None:
    """Create a contract; seat-limited code and managed contracts get one code per seat."""
    from portal.services.contracts import create_contract

    org = find_org(org_key)
    if not SLUG_RE.match(slug):
        raise _fail("The slug must be 1-100 lower-case letters, digits or '-', e.g. acme-2026.")
    name = name.strip()
    if not name or len(name) > 200:
        raise _fail("The name must be 1 to 200 characters.")
    unlimited_seats, seat_limit = _seats(seats, unlimited)
    exists = db.session.scalar(
        select(Contract.id).where(Contract.organization_id == org.id, Contract.slug == slug)
    )
    if exists is not None:
        raise _fail(f"{org.key} already has a contract {slug!r}.")
    with refusals():
        contract = create_contract(
            org,
            {
                "name": name,
                "slug": slug,
                "membership_type": MembershipType(membership_type),
                "unlimited_seats": unlimited_seats,
                "seat_limit": seat_limit,
                "price_per_learner": _price(price),
                "start_at": _utc(start),
                "end_at": _utc(end),
            },
        )
        notes = sync_seat_codes(contract.id)
        db.session.commit()
    click.echo(f"Created contract {org.key}/{contract.slug}, id {contract.id}.")
    for note in notes:
        click.echo(note)


@contract_group.command("modify")
@click.argument("slug")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("--name", default=None)
@click.option("--description", default=None)
@click.option(
    "--type",
    "membership_type",
    type=click.Choice([t.value for t in MembershipType]),
    default=None,
    help="New membership type (who gains or loses access is recorded in the audit log).",
)
@click.option("--seats", type=click.IntRange(min=0), default=None, help="New seat limit.")
@click.option("--unlimited", is_flag=True, help="Make seats unlimited.")
@click.option("--price", default=None, help="Price per learner ('' for free).")
@click.option("--start", type=_date, default=None)
@click.option("--end", type=_date, default=None)
def contract_modify(
    slug: str,
    org_key: str,
    name: str | None,
    description: str | None,
    membership_type: str | None,
    seats: int | None,
    unlimited: bool,
    price: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> None:
    """Change a contract's name, description, type, dates, price or seats (seat codes follow)."""
    from portal.services import contracts as contract_service

    contract = find_contract(org_key, slug)
    _seats(seats, unlimited)
    values: dict[str, Any] = {}
    if name is not None:
        if not name.strip() or len(name.strip()) > 200:
            raise _fail("The name must be 1 to 200 characters.")
        values["name"] = name.strip()
    if description is not None:
        values["description"] = description
    if price is not None:
        values["price_per_learner"] = _price(price)
    if start is not None or end is not None:
        # The date rule is checked on the resulting pair, not on the option given alone.
        values["start_at"] = _utc(start) if start is not None else contract.start_at
        values["end_at"] = _utc(end) if end is not None else contract.end_at
    new_type = MembershipType(membership_type) if membership_type else None
    if not values and new_type is None and seats is None and not unlimited:
        raise _fail("Nothing to change: give at least one option (see --help).")
    with refusals():
        if values:
            contract_service.update_contract(contract.id, values)
        if new_type is not None and new_type is not contract.membership_type:
            contract_service.change_membership_type(contract.id, new_type)
        if seats is not None or unlimited:
            contract_service.change_seat_limit(contract.id, None if unlimited else seats)
        notes = sync_seat_codes(contract.id)
        db.session.commit()
    click.echo(f"Updated contract {contract.organization.key}/{contract.slug}.")
    for note in notes:
        click.echo(note)


@contract_group.command("list")
@click.option("--org", "org_key", default=None, help="Only this organization's contracts.")
def contract_list(org_key: str | None) -> None:
    """List contracts: organization/slug, type, seats, price, dates, name."""
    query = (
        select(Contract, Organization.key)
        .join(Organization, Organization.id == Contract.organization_id)
        .order_by(Organization.key, Contract.slug)
    )
    if org_key:
        query = query.where(Contract.organization_id == find_org(org_key).id)
    rows = db.session.execute(query).all()
    if not rows:
        click.echo("No contracts.")
        return
    for contract, key in rows:
        seats = "unlimited" if contract.unlimited_seats else f"{contract.seat_limit} seats"
        price = f"{contract.price_per_learner}" if contract.price_per_learner else "free"
        dates = " - ".join(
            d.strftime("%Y-%m-%d") if d else "open" for d in (contract.start_at, contract.end_at)
        )
        state = "" if contract.active else "\tinactive"
        click.echo(
            f"{key}/{contract.slug}\t{contract.membership_type.value}\t{seats}\t{price}\t{dates}"
            f"\t{contract.name}{state}"
        )


# ----------------------------------------------------------------------------- courseware


def _one_of(**given: str | None) -> tuple[str, str]:
    chosen = [(name, value) for name, value in given.items() if value]
    if len(chosen) != 1:
        raise _fail("Give exactly one of " + ", ".join(f"--{n}" for n in given) + ".")
    return chosen[0][0], str(chosen[0][1])


def _by_key(model: Any, column: Any, value: str, label: str) -> Any:
    found = db.session.scalar(select(model).where(column == value))
    if found is None:
        raise _fail(f"No {label} has the key {value!r}.")
    return found


@courseware_group.command("add")
@click.option("--contract", "slug", required=True, help="Contract slug.")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("--course", default=None, help="Course key: clone its source run for the contract.")
@click.option("--program", default=None, help="Program key: a contract run for each course.")
@click.option("--run", default=None, help="Existing course run key (not on any contract).")
def courseware_add(
    slug: str, org_key: str, course: str | None, program: str | None, run: str | None
) -> None:
    """Add a course, a program or an existing run to a contract."""
    from portal.services import contract_runs

    contract = find_contract(org_key, slug)
    kind, key = _one_of(course=course, program=program, run=run)
    with refusals():
        if kind == "course":
            made = contract_runs.add_course(
                contract.id, _by_key(Course, Course.key, key, "course").id
            )
            lines = [f"Added course run {made.course_key}; a job creates it in edX."]
        elif kind == "program":
            found = _by_key(Program, Program.key, key, "program")
            added = contract_runs.add_program(contract.id, found.id)
            lines = [f"Added program {found.key}: {len(added.runs)} new run(s)."]
            lines += [f"  run {r.course_key}" for r in added.runs]
            lines += [f"  no source run: {c.key}" for c in added.without_source]
            lines += [f"  already on the contract: {c.key}" for c in added.already_there]
        else:
            found = _by_key(CourseRun, CourseRun.course_key, key, "course run")
            contract_runs.add_existing_run(contract.id, found.id)
            lines = [f"Attached run {found.course_key}."]
        db.session.commit()
    click.echo("\n".join(lines))


@courseware_group.command("remove")
@click.option("--contract", "slug", required=True, help="Contract slug.")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("--program", default=None, help="Program key.")
@click.option("--run", default=None, help="Course run key.")
def courseware_remove(slug: str, org_key: str, program: str | None, run: str | None) -> None:
    """Remove a run or a program: runs with enrollments are kept with enrollment closed; empty runs
    are detached."""
    from portal.services import contract_runs

    contract = find_contract(org_key, slug)
    kind, key = _one_of(run=run, program=program)
    with refusals():
        if kind == "run":
            found = _by_key(CourseRun, CourseRun.course_key, key, "course run")
            impacts = [contract_runs.remove_run(contract.id, found.id)]
        else:
            found = _by_key(Program, Program.key, key, "program")
            impacts = contract_runs.remove_program(contract.id, found.id)
        lines = [f"{i.run.course_key}: {i.action}" for i in impacts]
        db.session.commit()
    click.echo(f"Removed {kind} {key}." + ("\n" + "\n".join(lines) if lines else ""))


# ----------------------------------------------------------------------------- codes


@codes_group.command("generate")
@click.option("--contract", "slug", required=True, help="Contract slug.")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("--count", type=click.IntRange(min=1), required=True)
@click.option(
    "--type",
    "redemption_type",
    type=click.Choice([t.value for t in RedemptionType]),
    default=RedemptionType.ONE_TIME.value,
    show_default=True,
)
@click.option("--max-uses", type=click.IntRange(min=1), default=None, help="For multi_use codes.")
def codes_generate(
    slug: str, org_key: str, count: int, redemption_type: str, max_uses: int | None
) -> None:
    """Generate a batch of codes (extra to the seat codes) and print its batch id."""
    from portal.services.codes import generate_batch

    contract = find_contract(org_key, slug)
    rtype = RedemptionType(redemption_type)
    if max_uses is not None and rtype is not RedemptionType.MULTI_USE:
        raise _fail("--max-uses applies to multi_use codes only.")
    with refusals():
        batch = generate_batch(contract, count, rtype, max_uses)
        db.session.commit()
    click.echo(f"Generated {count} {rtype.value} code(s), batch {batch}.")


def write_codes_csv(contract: Contract, out: IO[str]) -> int:
    """Write the export (header, then a row per code with its redeem link); returns the rows."""
    from portal.services.codes import iter_export_rows

    base = current_app.config["PORTAL"].public_base_url
    writer = csv.writer(out)
    rows = -1
    for row in iter_export_rows(contract, base):
        writer.writerow(row)
        rows += 1
    return rows


@codes_group.command("export")
@click.option("--contract", "slug", required=True, help="Contract slug.")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None)
def codes_export(slug: str, org_key: str, output: str | None) -> None:
    """Write the contract's codes as CSV with redeem links (to stdout, or to --output FILE)."""
    contract = find_contract(org_key, slug)
    if output:
        with open(output, "w", newline="", encoding="utf-8") as handle:
            n = write_codes_csv(contract, handle)
        click.echo(f"Wrote {n} code(s) to {output}.", err=True)
    else:
        n = write_codes_csv(contract, sys.stdout)
    record_event(
        "codes.exported",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        after={"codes": n},
    )
    db.session.commit()


def _drift(plan: Any, unlimited: bool) -> str:
    if unlimited:
        return "no open multi-use code" if plan.unlimited_code_needed else ""
    if plan.live != plan.target:
        return f"{plan.live} seat code(s), seat limit {plan.target}"
    if plan.multi_use_to_close:
        return f"{plan.multi_use_to_close} open multi-use seat code(s) on limited seats"
    return ""


@codes_group.command("validate")
@click.option("--fix", is_flag=True, help="Add missing seat codes or remove surplus unused ones.")
def codes_validate(fix: bool) -> None:
    """Report contracts whose seat codes differ from the seat limit; --fix adds missing one-time
    codes or removes surplus unused, unassigned ones (newest first; used or assigned codes are never
    touched). Exits with status 1 while drift remains."""
    from portal.core.domain_errors import Conflict
    from portal.services.codes import seat_code_plan

    contracts = db.session.scalars(
        select(Contract)
        .options(joinedload(Contract.organization))
        .where(
            or_(
                Contract.membership_type.in_([MembershipType.CODE, MembershipType.MANAGED]),
                Contract.price_per_learner > 0,
            )
        )
        .order_by(Contract.id)
    ).all()
    drifted = [
        (contract, problem)
        for contract in contracts
        if (problem := _drift(seat_code_plan(contract), contract.unlimited_seats))
    ]
    if not drifted:
        click.echo("All seat codes match their contracts' seat limits.")
        return
    remaining = 0
    for contract, problem in drifted:
        label = f"{contract.organization.key}/{contract.slug}: {problem}"
        if not fix:
            click.echo(label)
            remaining += 1
            continue
        try:
            with db.session.begin_nested():
                notes = sync_seat_codes(contract.id)
            click.echo(f"{label}: fixed. " + " ".join(notes))
        except Conflict as exc:
            remaining += 1
            click.echo(f"{label}: not fixed. {exc.message}")
    if fix:
        db.session.commit()
    if remaining:
        hint = "" if fix else " Run with --fix to repair."
        raise click.ClickException(f"{remaining} contract(s) have drifted seat codes.{hint}")
