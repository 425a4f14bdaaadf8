"""``b2b codes ...``: extra batches, the CSV export, and seat codes checked against seat limits."""

from __future__ import annotations

import sys
from typing import IO, Any

import click
from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from portal.cli.b2b_common import find_contract
from portal.cli.unit_of_work import refusals
from portal.core.csv_export import write_csv
from portal.core.domain_errors import Conflict
from portal.core.text import plural
from portal.extensions import db
from portal.models import Contract, MembershipType, RedemptionType
from portal.services.audit import record_event
from portal.services.code_export import iter_export_rows
from portal.services.codes import generate_batch
from portal.services.locks import lock_contract
from portal.services.seat_code_sync import seat_code_notes
from portal.services.seat_codes import adjust_seat_codes, seat_code_plan


@click.group("codes")
def codes_group() -> None:
    """Enrollment codes."""


def sync_seat_codes(contract_id: int) -> list[str]:
    """Bring the contract's seat codes in line with its seats, all at once (a command can wait,
    so no ``codes.generate`` job is needed)."""
    return seat_code_notes(adjust_seat_codes(lock_contract(contract_id)))


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
    rtype = RedemptionType(redemption_type)
    with refusals():
        contract = find_contract(org_key, slug)
        if max_uses is not None and rtype is not RedemptionType.MULTI_USE:
            raise click.ClickException("--max-uses applies to multi_use codes only.")
        batch = generate_batch(contract, count, rtype, max_uses)
    click.echo(f"Generated {plural(count, rtype.value + ' code')}, batch {batch}.")


def write_codes_csv(contract: Contract, out: IO[str]) -> int:
    """Write the export (header, then a row per code with its redeem link); returns the rows."""
    base = current_app.config["PORTAL"].public_base_url
    return write_csv(iter_export_rows(contract, base), out)


@codes_group.command("export")
@click.option("--contract", "slug", required=True, help="Contract slug.")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None)
def codes_export(slug: str, org_key: str, output: str | None) -> None:
    """Write the contract's codes as CSV with redeem links (to stdout, or to --output FILE)."""
    with refusals():
        contract = find_contract(org_key, slug)
        if output:
            with open(output, "w", newline="", encoding="utf-8") as handle:
                n = write_codes_csv(contract, handle)
        else:
            n = write_codes_csv(contract, sys.stdout)
        record_event(
            "codes.exported",
            "contract",
            contract.id,
            organization_id=contract.organization_id,
            after={"codes": n},
        )
    if output:
        click.echo(f"Wrote {plural(n, 'code')} to {output}.", err=True)


def _drift(plan: Any, unlimited: bool) -> str:
    if unlimited:
        return "no open multi-use code" if plan.unlimited_code_needed else ""
    if plan.live != plan.target:
        return f"{plural(plan.live, 'seat code')}, seat limit {plan.target}"
    if plan.multi_use_to_close:
        return f"{plural(plan.multi_use_to_close, 'open multi-use seat code')} on limited seats"
    return ""


def _drifted() -> list[tuple[Contract, str]]:
    """Contracts that hold seat codes and whose codes differ from their seats, with the difference."""
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
    return [
        (contract, problem)
        for contract in contracts
        if (problem := _drift(seat_code_plan(contract), contract.unlimited_seats))
    ]


def _fix(drifted: list[tuple[Contract, str]]) -> tuple[list[str], int]:
    """Repair each contract in a savepoint of its own; one that cannot be repaired stays as it is."""
    lines, remaining = [], 0
    for contract, problem in drifted:
        label = f"{contract.organization.key}/{contract.slug}: {problem}"
        try:
            with db.session.begin_nested():
                notes = sync_seat_codes(contract.id)
            lines.append(f"{label}: fixed. " + " ".join(notes))
        except Conflict as exc:
            remaining += 1
            lines.append(f"{label}: not fixed. {exc.message}")
    return lines, remaining


@codes_group.command("validate")
@click.option("--fix", is_flag=True, help="Add missing seat codes or remove surplus unused ones.")
def codes_validate(fix: bool) -> None:
    """Report contracts whose seat codes differ from the seat limit; --fix adds missing one-time
    codes or removes surplus unused, unassigned ones (newest first; used or assigned codes are never
    touched). Exits with status 1 while drift remains."""
    with refusals():
        drifted = _drifted()
        if fix:
            lines, remaining = _fix(drifted)
        else:
            lines = [f"{c.organization.key}/{c.slug}: {problem}" for c, problem in drifted]
            remaining = len(lines)
    if not drifted:
        click.echo("All seat codes match their contracts' seat limits.")
        return
    click.echo("\n".join(lines))
    if remaining:
        hint = "" if fix else " Run with --fix to repair."
        has = "has" if remaining == 1 else "have"
        raise click.ClickException(
            f"{plural(remaining, 'contract')} {has} drifted seat codes.{hint}"
        )
