"""What the ``b2b`` commands share: finding an organization or contract by its key, and reading
names, prices, seats and dates given on the command line."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

import click
from sqlalchemy import select

from portal.extensions import db
from portal.models import Contract, Organization

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
DATE = click.DateTime(formats=DATE_FORMATS)


def find_org(key: str) -> Organization:
    org = db.session.scalar(select(Organization).where(Organization.key == key.strip().upper()))
    if org is None:
        raise click.ClickException(f"No organization has the key {key!r} (see `b2b org list`).")
    return org


def find_contract(org_key: str, slug: str) -> Contract:
    org = find_org(org_key)
    contract = db.session.scalar(
        select(Contract).where(Contract.organization_id == org.id, Contract.slug == slug)
    )
    if contract is None:
        raise click.ClickException(
            f"{org.key} has no contract {slug!r} (see `b2b contract list --org {org.key}`)."
        )
    return contract


def checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise click.ClickException("The name must be 1 to 200 characters.")
    return name


def price(raw: str | None) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise click.ClickException(f"The price must be a number like 149.00, not {raw!r}.")
    return value.quantize(Decimal("0.01"))


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """Dates on the command line are UTC."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


def seats(seat_limit: int | None, unlimited: bool) -> tuple[bool, int | None]:
    if unlimited and seat_limit is not None:
        raise click.ClickException("Give either --seats N or --unlimited, not both.")
    return unlimited, seat_limit
