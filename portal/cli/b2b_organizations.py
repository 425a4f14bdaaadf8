"""``b2b org ...``: create and list organizations, and pull them from Keycloak."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from portal.cli.b2b_common import checked_name
from portal.cli.unit_of_work import refusals
from portal.core.text import plural
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.models import Contract, Organization
from portal.services.jobs import start_job
from portal.services.organizations import save_organization


@click.group("org")
def org_group() -> None:
    """Organizations."""


@org_group.command("create")
@click.option("--name", required=True, help="Display name.")
@click.option("--key", required=True, help="Short key: 1-30 of A-Z, 0-9, _ (part of edX keys).")
@click.option("--alias", default=None, help="Keycloak alias (default: the key in lower case).")
@click.option(
    "--keycloak-create", is_flag=True, help="Also record the job creating it in Keycloak."
)
def org_create(name: str, key: str, alias: str | None, keycloak_create: bool) -> None:
    """Create an organization."""
    with refusals():
        values = {"name": checked_name(name), "key": key.strip(), "keycloak_alias": alias}
        org = save_organization(Organization(), values)
        job = None
        if keycloak_create:
            job = start_job(
                JobKind.KEYCLOAK_CREATE_ORGANIZATION,
                {"organization_id": org.id},
                about=("organization", org.id),
                organization_id=org.id,
            )
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
    with refusals():
        rows = db.session.execute(
            select(Organization, func.coalesce(contracts.c.n, 0))
            .outerjoin(contracts, contracts.c.organization_id == Organization.id)
            .order_by(Organization.key)
        ).all()
        lines = [
            f"{org.key}\t{org.name}\t"
            + (f"keycloak {org.keycloak_alias}" if org.keycloak_id else "not in keycloak")
            + f"\t{'active' if org.active else 'inactive'}\t{plural(n, 'contract')}"
            for org, n in rows
        ]
    click.echo("\n".join(lines) if lines else "No organizations.")


@org_group.command("sync")
def org_sync() -> None:
    """Record the job that pulls organizations from Keycloak (create and update, never delete)."""
    with refusals():
        job = start_job(JobKind.KEYCLOAK_PULL_ORGANIZATIONS)
    click.echo(f"Recorded job {job.id} (keycloak.pull_organizations); a worker runs it.")
