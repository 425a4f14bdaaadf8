"""``b2b contract ...``: create, change and list contracts; seat codes follow the seats."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from sqlalchemy import select

from portal.cli.b2b_codes import sync_seat_codes
from portal.cli.b2b_common import (
    DATE,
    SLUG_RE,
    checked_name,
    find_contract,
    find_org,
    price,
    seats,
    utc,
)
from portal.cli.unit_of_work import refusals
from portal.core.text import plural
from portal.extensions import db
from portal.models import Contract, MembershipType, Organization
from portal.services import contracts as contract_service

MEMBERSHIP_TYPES = click.Choice([t.value for t in MembershipType])


@click.group("contract")
def contract_group() -> None:
    """Contracts."""


@contract_group.command("create")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("--name", required=True)
@click.option("--slug", required=True, help="Lower-case letters, digits and '-'.")
@click.option("--type", "membership_type", required=True, type=MEMBERSHIP_TYPES)
@click.option("--seats", "seat_limit", type=click.IntRange(min=0), default=None, help="Seat limit.")
@click.option("--unlimited", is_flag=True, help="Unlimited seats.")
@click.option("--price", "price_text", default=None, help="Price per learner, e.g. 149.00.")
@click.option("--start", type=DATE, default=None, help="Start (UTC), YYYY-MM-DD[THH:MM].")
@click.option("--end", type=DATE, default=None, help="End (UTC), YYYY-MM-DD[THH:MM].")
def contract_create(
    org_key: str,
    name: str,
    slug: str,
    membership_type: str,
    seat_limit: int | None,
    unlimited: bool,
    price_text: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> None:
    """Create a contract; seat-limited code and managed contracts get one code per seat."""
    with refusals():
        org = find_org(org_key)
        if not SLUG_RE.match(slug):
            raise click.ClickException(
                "The slug must be 1-100 lower-case letters, digits or '-', e.g. acme-2026."
            )
        name = checked_name(name)
        unlimited_seats, seat_limit = seats(seat_limit, unlimited)
        exists = db.session.scalar(
            select(Contract.id).where(Contract.organization_id == org.id, Contract.slug == slug)
        )
        if exists is not None:
            raise click.ClickException(f"{org.key} already has a contract {slug!r}.")
        values = {
            "name": name,
            "slug": slug,
            "membership_type": MembershipType(membership_type),
            "unlimited_seats": unlimited_seats,
            "seat_limit": seat_limit,
            "price_per_learner": price(price_text),
            "start_at": utc(start),
            "end_at": utc(end),
        }
        contract = contract_service.create_contract(org, values)
        notes = sync_seat_codes(contract.id)
    click.echo(
        "\n".join([f"Created contract {org.key}/{contract.slug}, id {contract.id}.", *notes])
    )


def _changed_values(
    contract: Contract,
    name: str | None,
    description: str | None,
    price_text: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> dict[str, Any]:
    """The contract fields ``contract modify`` was given, checked and converted."""
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = checked_name(name)
    if description is not None:
        values["description"] = description
    if price_text is not None:
        values["price_per_learner"] = price(price_text)
    if start is not None or end is not None:
        # The date rule is checked on the resulting pair, not on the option given alone.
        values["start_at"] = utc(start) if start is not None else contract.start_at
        values["end_at"] = utc(end) if end is not None else contract.end_at
    return values


@contract_group.command("modify")
@click.argument("slug")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("--name", default=None)
@click.option("--description", default=None)
@click.option(
    "--type",
    "membership_type",
    type=MEMBERSHIP_TYPES,
    default=None,
    help="New membership type (who gains or loses access is recorded in the audit log).",
)
@click.option(
    "--seats", "seat_limit", type=click.IntRange(min=0), default=None, help="New seat limit."
)
@click.option("--unlimited", is_flag=True, help="Make seats unlimited.")
@click.option("--price", "price_text", default=None, help="Price per learner ('' for free).")
@click.option("--start", type=DATE, default=None)
@click.option("--end", type=DATE, default=None)
def contract_modify(
    slug: str,
    org_key: str,
    name: str | None,
    description: str | None,
    membership_type: str | None,
    seat_limit: int | None,
    unlimited: bool,
    price_text: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> None:
    """Change a contract's name, description, type, dates, price or seats (seat codes follow)."""
    with refusals():
        contract = find_contract(org_key, slug)
        seats(seat_limit, unlimited)
        values = _changed_values(contract, name, description, price_text, start, end)
        new_type = MembershipType(membership_type) if membership_type else None
        if not values and new_type is None and seat_limit is None and not unlimited:
            raise click.ClickException("Nothing to change: give at least one option (see --help).")
        if values:
            contract_service.update_contract(contract.id, values)
        if new_type is not None and new_type is not contract.membership_type:
            contract_service.change_membership_type(contract.id, new_type)
        if seat_limit is not None or unlimited:
            contract_service.change_seat_limit(contract.id, None if unlimited else seat_limit)
        notes = sync_seat_codes(contract.id)
    click.echo(
        "\n".join([f"Updated contract {contract.organization.key}/{contract.slug}.", *notes])
    )


def _contract_line(contract: Contract, key: str) -> str:
    seat_text = (
        "unlimited" if contract.unlimited_seats else plural(contract.seat_limit or 0, "seat")
    )
    price_text = f"{contract.price_per_learner}" if contract.price_per_learner else "free"
    dates = " - ".join(
        d.strftime("%Y-%m-%d") if d else "open" for d in (contract.start_at, contract.end_at)
    )
    state = "" if contract.active else "\tinactive"
    return (
        f"{key}/{contract.slug}\t{contract.membership_type.value}\t{seat_text}\t{price_text}"
        f"\t{dates}\t{contract.name}{state}"
    )


@contract_group.command("list")
@click.option("--org", "org_key", default=None, help="Only this organization's contracts.")
def contract_list(org_key: str | None) -> None:
    """List contracts: organization/slug, type, seats, price, dates, name."""
    query = (
        select(Contract, Organization.key)
        .join(Organization, Organization.id == Contract.organization_id)
        .order_by(Organization.key, Contract.slug)
    )
    with refusals():
        if org_key:
            query = query.where(Contract.organization_id == find_org(org_key).id)
        lines = [_contract_line(contract, key) for contract, key in db.session.execute(query)]
    click.echo("\n".join(lines) if lines else "No contracts.")
